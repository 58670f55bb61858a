import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { statfs, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { HealthCheckResultSchema, INTERPRETERS, type HealthCheckResult, type HealthVerdict, type LocalPolicy } from '../../../src/protocol/messages';
import { policyWhere } from '../../../src/protocol/policy-check';
import { hostFacts } from '../host-facts';
import { describePolicy } from '../policy';
import type { ExecutionResult, JobExecution } from './job-kinds';
import type { RunnerSink } from './job-runner';

export type HealthFacts = HealthCheckResult['facts'];
type Interpreter = (typeof INTERPRETERS)[number];

/** Less free than this (a fraction of the disk holding the state dir) is unhealthy: the ledger and spools are about to fail. */
export const UNHEALTHY_FREE_FRACTION = 0.02;
/** Less free than this is a warning: time to clean up before it is unhealthy. */
export const WARNING_FREE_FRACTION = 0.1;

/** What the check looks at, one function each, so a test can stand in for the host. */
export interface HealthProbes {
  /** Free (to the agent's user) and total bytes of the filesystem holding `path`. */
  disk(path: string): Promise<{ freeBytes: number; totalBytes: number }>;
  /** Creates and removes a file in `dir`; rejects when it cannot. */
  write(dir: string): Promise<void>;
  /** The first line `--version` prints, or null when it fails or takes longer than `timeoutMs`. */
  version(path: string, timeoutMs: number, signal: AbortSignal): Promise<string | null>;
  uptimeSeconds(): number;
}

export const HOST_PROBES: HealthProbes = {
  async disk(path) {
    const s = await statfs(path);
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  },
  async write(dir) {
    const probe = join(dir, `.health-check-${randomUUID()}`);
    await writeFile(probe, 'corral-agent health check\n', { flag: 'wx', mode: 0o600 });
    await unlink(probe);
  },
  version(path, timeoutMs, signal) {
    return new Promise((resolve) => {
      // stdin closed and SIGKILL on timeout: an interpreter that waits for input or ignores SIGTERM cannot hold the check.
      const child = execFile(path, ['--version'], { timeout: timeoutMs, killSignal: 'SIGKILL', signal, maxBuffer: 64 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err) return resolve(null);
        const line = [stdout, stderr]
          .flatMap((s) => s.split('\n'))
          .map((s) => s.trim())
          .find(Boolean);
        resolve(line ? line.slice(0, 200) : null);
      });
      child.stdin?.end();
    });
  },
  uptimeSeconds: () => Math.max(0, Math.floor(os.uptime())),
};

/** The absolute path `command` resolves to on `path` (a PATH value), or null. */
export function findOnPath(command: string, path: string | undefined): string | null {
  for (const dir of (path ?? '').split(delimiter)) {
    // Empty and relative entries name the job's working directory, which holds no interpreter.
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** What the check found, with the errors behind a false or missing fact, for the problems' wording. */
export interface HealthFindings {
  facts: HealthFacts;
  /** Why the state dir could not be written, when it could not. */
  writeError: string | null;
  /** Why the disk's free space is unknown, when it is. */
  diskError: string | null;
  /** The PATH jobs get, where bash, sh and pwsh were looked for. */
  path: string;
}

export interface GatherOptions {
  stateDir: string;
  /** The job's environment: interpreters are looked for on its PATH. */
  env: NodeJS.ProcessEnv;
  policy: LocalPolicy;
  now: () => number;
  probes?: HealthProbes;
  /** How long each `--version` may take. */
  versionTimeoutMs?: number;
  signal?: AbortSignal;
}

const errorText = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** Gathers the facts: the agent and its host, its state dir's disk, the interpreters jobs would find, and the policy. */
export async function gatherHealth(o: GatherOptions): Promise<HealthFindings> {
  const probes = o.probes ?? HOST_PROBES;
  const signal = o.signal ?? new AbortController().signal;
  const path = o.env.PATH ?? '';
  let writeError: string | null = null;
  let diskError: string | null = null;
  const [disk] = await Promise.all([
    probes.disk(o.stateDir).catch((err: unknown) => {
      diskError = errorText(err);
      return { freeBytes: 0, totalBytes: 0 };
    }),
    probes.write(o.stateDir).catch((err: unknown) => {
      writeError = errorText(err);
    }),
  ]);
  const timeoutMs = o.versionTimeoutMs ?? 5_000;
  const lookup = async (name: Interpreter): Promise<HealthFacts['interpreters'][Interpreter]> => {
    // Scripts in node run on the agent's own Node.js, whatever the PATH says.
    if (name === 'node') return { path: process.execPath, version: process.version };
    const found = findOnPath(name, path);
    return found ? { path: found, version: await probes.version(found, timeoutMs, signal) } : null;
  };
  const found = await Promise.all(INTERPRETERS.map(async (name) => [name, await lookup(name)] as const));
  const host = hostFacts();
  return {
    facts: {
      agentVersion: host.agentVersion,
      hostname: host.hostname,
      os: host.os,
      arch: host.arch,
      uptimeSeconds: probes.uptimeSeconds(),
      checkedAt: o.now(),
      stateDir: { path: o.stateDir, freeBytes: disk.freeBytes, totalBytes: disk.totalBytes, writable: writeError === null },
      interpreters: Object.fromEntries(found) as HealthFacts['interpreters'],
      policy: o.policy,
    },
    writeError,
    diskError,
    path,
  };
}

/** "1.2 GiB", "17 GiB", "512 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit > 0 && value < 10 ? (Math.floor(value * 10) / 10).toString() : Math.floor(value)} ${units[unit]}`;
}

// Rounded down, so a disk reported as "2 %" free is never below the 2 % line.
function formatPercent(fraction: number): string {
  const percent = fraction * 100;
  return `${percent < 1 ? Math.floor(percent * 10) / 10 : Math.floor(percent)} %`;
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
}

const clipPath = (path: string) => (path.length > 200 ? `${path.slice(0, 199)}…` : path);

/**
 * The verdict on what the check found: `unhealthy` when the agent cannot keep its ledger (the
 * state dir is not writable, or less than 2 % of its disk is free); `warning` when less than
 * 10 % is free, bash or sh is missing, or the host is frozen; otherwise `healthy`. Each problem
 * says what is wrong and what to do about it, in the order of their gravity.
 */
export function judgeHealth(findings: HealthFindings): { verdict: HealthVerdict; problems: string[] } {
  const { facts } = findings;
  const dir = facts.stateDir;
  const unhealthy: string[] = [];
  const warnings: string[] = [];
  if (!dir.writable)
    unhealthy.push(
      `the agent cannot write to its state directory ${dir.path} (${findings.writeError ?? 'not writable'}), so it cannot record jobs: check the directory's owner and mode, and that its filesystem is not read-only or full`,
    );
  if (dir.totalBytes > 0) {
    const free = dir.freeBytes / dir.totalBytes;
    const amount = `${formatPercent(free)} of the disk holding ${dir.path} is free (${formatBytes(dir.freeBytes)} of ${formatBytes(dir.totalBytes)})`;
    if (free < UNHEALTHY_FREE_FRACTION) unhealthy.push(`only ${amount}: the agent's ledger and job logs fail when it fills up; free some space`);
    else if (free < WARNING_FREE_FRACTION) warnings.push(`only ${amount}`);
  } else {
    warnings.push(`cannot tell how much of the disk holding ${dir.path} is free (${findings.diskError ?? 'the filesystem reports no size'})`);
  }
  for (const name of ['bash', 'sh'] as const)
    if (!facts.interpreters[name])
      warnings.push(`${name} was not found on the PATH jobs get (${clipPath(findings.path) || 'empty'}): ${name} scripts fail on this host until it is installed there`);
  if (facts.policy.frozen) warnings.push(`this host is frozen by its local policy, ${policyWhere(facts.policy)} ("frozen": true): it runs no other work until that is set to false`);
  const problems = [...unhealthy, ...warnings].map((p) => (p.length > 500 ? `${p.slice(0, 499)}…` : p)).slice(0, 20);
  return { verdict: unhealthy.length ? 'unhealthy' : warnings.length ? 'warning' : 'healthy', problems };
}

/** A few lines for the job's log: what was found, and the verdict with its reasons. */
export function describeHealth(result: HealthCheckResult): string[] {
  const f = result.facts;
  const dir = f.stateDir;
  const space = dir.totalBytes > 0 ? `${formatBytes(dir.freeBytes)} free of ${formatBytes(dir.totalBytes)} (${formatPercent(dir.freeBytes / dir.totalBytes)})` : 'free space unknown';
  const interpreters = INTERPRETERS.map((name) => {
    const found = f.interpreters[name];
    return found ? `${name} ${found.path} (${found.version ?? 'version unknown'})` : `${name} not found`;
  });
  return [
    `health check: corral-agent ${f.agentVersion} on ${f.hostname} (${f.os}, ${f.arch}), host up ${formatUptime(f.uptimeSeconds)}, agent clock ${new Date(f.checkedAt).toISOString()}`,
    `state directory ${dir.path}: ${dir.writable ? 'writable' : 'NOT writable'}; ${space}`,
    `interpreters: ${interpreters.join('; ')}`,
    `local policy: ${describePolicy(f.policy)}`,
    `verdict: ${result.verdict}${result.problems.length ? ` (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'})` : ''}`,
    ...result.problems.map((p) => `problem: ${p}`),
  ];
}

export interface HealthCheckOptions extends Omit<GatherOptions, 'signal'> {
  timeoutSeconds: number;
  /** Where the summary goes: the job's log, as `system` lines. */
  sink: Pick<RunnerSink, 'system'>;
}

/**
 * A `health-check` job: no user code, the agent looks at itself and its host, judges what it
 * found and reports it as the finish's result. It ends at the offer's timeout or on a cancel
 * like a script does (nothing it started is left waiting: `--version` probes are killed).
 */
export class HealthCheck implements JobExecution {
  readonly done: Promise<ExecutionResult>;
  readonly pid = null;
  private resolveDone!: (result: ExecutionResult) => void;
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private settled = false;

  constructor(private readonly o: HealthCheckOptions) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get running(): boolean {
    return this.started && !this.settled;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const { timeoutSeconds } = this.o;
    this.timer = setTimeout(() => this.stop('timed_out', 0, '', `timed out after ${timeoutSeconds} s`), timeoutSeconds * 1000);
    void this.check();
  }

  stop(outcome: 'cancelled' | 'timed_out', _graceMs: number, _line: string, message: string): void {
    if (!this.running) return;
    this.o.sink.system(`health check stopped: ${message}`);
    this.abort.abort();
    this.settle({ outcome, exitCode: null, signal: null, message, result: null });
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  private async check() {
    try {
      const findings = await gatherHealth({ ...this.o, signal: this.abort.signal });
      if (this.settled) return;
      // Parsed here so a fact the protocol would refuse fails the check on this side, where it can be read.
      const result = HealthCheckResultSchema.parse({ kind: 'health-check', payloadVersion: 1, ...judgeHealth(findings), facts: findings.facts });
      for (const line of describeHealth(result)) this.o.sink.system(line);
      this.settle({ outcome: 'succeeded', exitCode: null, signal: null, message: null, result });
    } catch (err) {
      if (this.settled) return;
      const message = `the health check failed: ${(err as Error).message}`;
      this.o.sink.system(message);
      this.settle({ outcome: 'failed', exitCode: null, signal: null, message, result: null });
    }
  }

  private settle(result: ExecutionResult) {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolveDone(result);
  }
}
