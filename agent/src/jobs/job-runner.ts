import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { JobOutcome, JobOutput, ScriptSyntax } from '../../../src/protocol/messages';
import { nodeInterpreter } from '../node-script';
import { readOutputs, writeHelper } from './job-helper';

/** A user to run jobs as, from /etc/passwd. */
export interface RunAsUser {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

export interface Interpreter {
  command: string;
  args: string[];
  file: string; // the script's file name in the working directory
  label: string; // what an operator would install when it is missing
}

/** How each script syntax is run: the script file is the last argument. */
export function defaultInterpreters(): Record<ScriptSyntax, Interpreter> {
  return {
    bash: { command: 'bash', args: [], file: 'script.sh', label: 'bash' },
    sh: { command: 'sh', args: [], file: 'script.sh', label: 'sh' },
    node: { ...nodeInterpreter(), file: 'script.js', label: 'Node.js' },
    pwsh: { command: 'pwsh', args: ['-NoProfile', '-NonInteractive', '-File'], file: 'script.ps1', label: 'PowerShell (pwsh)' },
  };
}

export interface JobSpec {
  jobId: string;
  attempt: number;
  syntax: ScriptSyntax;
  body: string;
  timeoutSeconds: number;
  workDir: string;
  runAs: RunAsUser | null;
  env: NodeJS.ProcessEnv;
  /** The values `corral get` reads; with them, the job gets the `corral` helper and reports its outputs. */
  helper?: Record<string, string>;
}

export interface RunResult {
  outcome: JobOutcome;
  exitCode: number | null;
  signal: string | null;
  message: string | null;
  /** What the script set with `corral set-output`. */
  outputs?: JobOutput[];
}

/** Where a running job's output and the agent's notes about it go. */
export interface RunnerSink {
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
  system(line: string): void;
}

export interface RunnerTimings {
  /** After a timeout's SIGTERM, the group gets this long before SIGKILL. */
  timeoutGraceMs: number;
  /** After the script's process exits, wait this long for the rest of its output. */
  drainMs: number;
}

export const DEFAULT_RUNNER_TIMINGS: RunnerTimings = { timeoutGraceMs: 10_000, drainMs: 2_000 };

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** Signals a whole process group; false when nothing is left in it. */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * One job attempt's process: writes the script into a fresh working directory, runs it in a
 * process group of its own, enforces the timeout and stops it on request (SIGTERM to the
 * group, a grace period, SIGKILL). `done` resolves once the process has exited and its output
 * is drained; it never rejects.
 */
export class JobRunner {
  readonly done: Promise<RunResult>;
  private resolveDone!: (result: RunResult) => void;
  private child: ChildProcess | null = null;
  private stopping: { outcome: 'cancelled' | 'timed_out'; message: string } | null = null;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private killAt = Infinity;
  private spawned = false;
  private exited = false;
  private settled = false;
  private startedAt = 0;
  private readonly timings: RunnerTimings;
  private readonly interpreters: Record<ScriptSyntax, Interpreter>;

  constructor(
    private readonly spec: JobSpec,
    private readonly sink: RunnerSink,
    options: { timings?: Partial<RunnerTimings>; interpreters?: Record<ScriptSyntax, Interpreter> } = {},
  ) {
    this.timings = { ...DEFAULT_RUNNER_TIMINGS, ...options.timings };
    this.interpreters = options.interpreters ?? defaultInterpreters();
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** The process group id (the script's pid), once spawned. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** The script's process was spawned and has not exited. */
  get running(): boolean {
    return this.spawned && !this.settled && !this.exited;
  }

  start(): void {
    const { spec } = this;
    const interpreter = this.interpreters[spec.syntax];
    const script = join(spec.workDir, interpreter.file);
    let helperEnv: NodeJS.ProcessEnv = {};
    try {
      rmSync(spec.workDir, { recursive: true, force: true });
      mkdirSync(spec.workDir, { recursive: true, mode: 0o700 });
      writeFileSync(script, spec.body, { mode: 0o600 });
      if (spec.runAs) {
        chownSync(spec.workDir, spec.runAs.uid, spec.runAs.gid);
        chownSync(script, spec.runAs.uid, spec.runAs.gid);
      }
      if (spec.helper) helperEnv = writeHelper(spec.workDir, spec.helper, spec.runAs, spec.env.PATH);
    } catch (err) {
      return this.fail(`cannot prepare the working directory ${spec.workDir}: ${(err as Error).message}`, 'the agent could not prepare the working directory');
    }

    const env: NodeJS.ProcessEnv = { ...spec.env, ...helperEnv };
    if (spec.runAs) Object.assign(env, { HOME: spec.runAs.home, USER: spec.runAs.user, LOGNAME: spec.runAs.user });
    this.startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(interpreter.command, [...interpreter.args, interpreter.file], {
        cwd: spec.workDir,
        env,
        detached: true, // its own process group, so a cancel reaches everything it started
        stdio: ['ignore', 'pipe', 'pipe'],
        uid: spec.runAs?.uid,
        gid: spec.runAs?.gid,
      });
    } catch (err) {
      return this.fail(`cannot start ${interpreter.label}: ${(err as Error).message}`, `cannot start ${interpreter.label}`);
    }
    this.child = child;

    child.on('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined && !this.exited) return; // a signal that could not be delivered; 'exit' still comes
      if (err.code === 'ENOENT')
        this.fail(
          `cannot run the ${spec.syntax} script: "${interpreter.command}" was not found on this host (PATH=${env.PATH ?? ''}); install ${interpreter.label} or choose another syntax`,
          `${interpreter.label} is not installed on this host`,
        );
      else this.fail(`cannot run the ${spec.syntax} script with "${interpreter.command}": ${err.message}`, `cannot start ${interpreter.label}: ${err.code ?? err.message}`);
    });
    if (child.pid === undefined) return; // spawn failed; 'error' follows
    this.spawned = true;

    this.sink.system(`running ${spec.syntax} as ${spec.runAs?.user ?? currentUser()} in ${spec.workDir} (pid ${child.pid}, timeout ${spec.timeoutSeconds} s)`);
    child.stdout?.on('data', (data: Buffer) => this.sink.output('stdout', data));
    child.stderr?.on('data', (data: Buffer) => this.sink.output('stderr', data));
    child.on('exit', (code, signal) => this.onExit(code, signal));
    this.timeoutTimer = setTimeout(
      () =>
        this.stop(
          'timed_out',
          this.timings.timeoutGraceMs,
          `timed out after ${spec.timeoutSeconds} s: SIGTERM sent to process group`,
          `timed out after ${spec.timeoutSeconds} s`,
          'killed after timeout: SIGKILL sent to process group',
        ),
      spec.timeoutSeconds * 1000,
    );
  }

  /**
   * Stops the job: SIGTERM to its process group now, SIGKILL after `graceMs`. The first reason
   * given is the outcome; a later, shorter grace still shortens the wait.
   */
  stop(outcome: 'cancelled' | 'timed_out', graceMs: number, line: string, message: string, killLine = `SIGKILL sent to process group after ${seconds(graceMs)} grace`) {
    if (this.settled || this.exited) return;
    if (!this.child?.pid) return;
    const pid = this.child.pid;
    if (!this.stopping) {
      this.stopping = { outcome, message };
      clearTimeout(this.timeoutTimer);
      this.sink.system(line);
      signalGroup(pid, 'SIGTERM');
    }
    const at = Date.now() + graceMs;
    if (at >= this.killAt) return;
    this.killAt = at;
    clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      if (!signalGroup(pid, 0)) return;
      if (!this.exited) this.sink.system(killLine);
      signalGroup(pid, 'SIGKILL');
    }, graceMs);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null) {
    this.exited = true;
    clearTimeout(this.timeoutTimer);
    const child = this.child as ChildProcess;
    const elapsed = seconds(Date.now() - this.startedAt);
    // Output can still be in the pipes; wait for both to close, but not for a background
    // process that inherited them and lives on.
    const streams = [child.stdout, child.stderr].filter((s) => s !== null);
    let open = streams.filter((s) => !s.closed).length;
    const drained = () => {
      if (this.settled) return;
      clearTimeout(drainTimer);
      for (const s of streams) s.destroy();
      // Nothing is left to SIGKILL once the group is empty.
      if (this.killTimer && child.pid && !signalGroup(child.pid, 0)) {
        clearTimeout(this.killTimer);
        this.killTimer = undefined;
      }
      const result = this.result(code, signal);
      this.sink.system(signal ? `killed by ${signal} after ${elapsed}` : `exit code ${code} after ${elapsed}`);
      if (this.spec.helper) result.outputs = readOutputs(this.spec.workDir, (line) => this.sink.system(line));
      this.settle(result);
    };
    const drainTimer = setTimeout(() => {
      this.sink.system('the script exited but processes it left behind still hold its output; their further output is not captured');
      drained();
    }, this.timings.drainMs);
    if (open === 0) return drained();
    for (const s of streams)
      s.once('close', () => {
        if (--open === 0) drained();
      });
  }

  private result(code: number | null, signal: NodeJS.Signals | null): RunResult {
    if (this.stopping) return { outcome: this.stopping.outcome, exitCode: code, signal, message: this.stopping.message };
    if (code === 0) return { outcome: 'succeeded', exitCode: 0, signal: null, message: null };
    return { outcome: 'failed', exitCode: code, signal, message: signal ? `killed by ${signal}` : `exit code ${code}` };
  }

  private fail(line: string, message: string) {
    if (this.settled) return;
    this.sink.system(line);
    this.settle({ outcome: 'failed', exitCode: null, signal: null, message });
  }

  private settle(result: RunResult) {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timeoutTimer);
    this.resolveDone(result);
  }

  /** Clears timers that would otherwise outlive a test; the process is left alone. */
  dispose() {
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.killTimer);
  }
}
