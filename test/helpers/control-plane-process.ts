import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const MAIN = join(ROOT, 'dist', 'src', 'main.js');
// As `npm start`, `npm run start:prod` and the Dockerfile run it: a young generation big enough
// that a burst of requests is collected young instead of being promoted and collected again.
export const NODE_FLAGS = ['--max-semi-space-size=32'];
// Every node a test starts seals with this master key, so the nodes of one test cluster (and the
// CLIs run against its database) share it; a test that needs none passes CORRAL_SECRETS_KEY: ''.
export const TEST_SECRETS_KEY = Buffer.alloc(32, 'corral-test-key').toString('base64');

export interface ControlPlaneProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output: () => string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Waits for `predicate` to hold, polling every `intervalMs`, failing after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, predicate: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      // A process that already exited will not start listening later: say so at once.
      if ((err as { fatal?: boolean }).fatal) throw err;
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

/**
 * Starts the built control plane (`npm run build` first; `npm test` does it) as a real process
 * and waits until it listens. PORT=0 lets it pick a free port, which it reports in its log.
 */
export async function startControlPlane(env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<ControlPlaneProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" (npm test does it for you)`);
  const cleanEnv = { ...process.env };
  delete cleanEnv.DATABASE_URL;
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN], {
    cwd: ROOT,
    env: { ...cleanEnv, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', LOG_LEVEL: 'debug', CORRAL_SECRETS_KEY: TEST_SECRETS_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code ?? -1));

  const port = await waitFor(
    'the control plane to listen',
    () => {
      if (exitCode !== undefined) throw Object.assign(new Error(`control plane exited with ${exitCode}:\n${output}`), { fatal: true });
      const match = /"msg":"Corral control plane listening[^\n]*"port":(\d+)/.exec(output);
      return match ? Number(match[1]) : 0;
    },
    timeoutMs,
  ).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n--- output ---\n${output}`);
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exitCode === undefined) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    return exited;
  };
  return { child, url: `http://127.0.0.1:${port}`, port, output: () => output, exited, stop };
}
