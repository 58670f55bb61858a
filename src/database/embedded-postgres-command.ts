import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { RunAs } from './embedded-postgres-run-as';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  runAs?: RunAs;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      uid: options.runAs?.uid,
      gid: options.runAs?.gid,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: null, stdout, stderr: `${stderr}\n${path.basename(file)} timed out after ${options.timeoutMs}ms` });
    }, options.timeoutMs ?? 60_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => finish({ code: null, stdout, stderr: `${stderr}\ncould not run ${file}: ${err.message}` }));
    child.on('close', (code) => finish({ code, stdout, stderr }));
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}
