import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitFor } from './control-plane-process';
import type { SignedUp } from './factories';

export const AGENT_BUNDLE = join(ROOT, 'agent', 'dist', 'corral-agent.js');

// Anything in the test runner's environment that could change where the agent connects or
// which settings it picks up; the agent gets only what a test passes explicitly.
const INHERITED_SETTINGS = /^(https?_proxy|no_proxy|all_proxy|corral_.*)$/i;

/** The real agent program (`agent/dist/corral-agent.js`) running as a child process. */
export class AgentProcess {
  private out = '';
  private err = '';
  private code: number | null | undefined;
  private signalName: NodeJS.Signals | null = null;
  /** Resolves with the exit code (null when a signal ended it) once the process has exited. */
  readonly exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly args: string[],
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    // 'close' rather than 'exit': by then stdout and stderr have been read to the end.
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.code = code;
        this.signalName = signal;
        resolve(code);
      }),
    );
  }

  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  /** stdout then stderr: what an operator watching the terminal reads. */
  get output(): string {
    return `${this.out}${this.err}`;
  }
  get running(): boolean {
    return this.code === undefined;
  }
  get exitCode(): number | null | undefined {
    return this.code;
  }

  /** Waits for output matching `pattern`; fails at once, with the output, if the agent exits first. */
  waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (result: RegExpExecArray | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.child.stdout!.off('data', check);
        this.child.stderr!.off('data', check);
        if (result instanceof Error) reject(new Error(`${result.message}\n${this.describe()}`));
        else resolve(result);
      };
      // Registered after the collectors in the constructor, so the output already holds each chunk.
      const check = () => {
        const match = pattern.exec(this.output);
        if (match) finish(match);
        else if (!this.running) finish(new Error(`the agent exited with ${this.code ?? this.signalName} before printing ${pattern}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for agent output matching ${pattern}`)), timeoutMs);
      this.child.stdout!.on('data', check);
      this.child.stderr!.on('data', check);
      void this.exited.then(check);
      check();
    });
  }

  /** The exit code, failing (with the output) when the process is still running after `timeoutMs`. */
  async waitForExit(timeoutMs = 10_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the agent did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` (if still running) and waits for the exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  describe(): string {
    return `--- corral-agent ${this.args.join(' ')} (pid ${this.child.pid}, ${this.running ? 'running' : `exit ${this.code ?? this.signalName}`}) ---\n${this.output}`;
  }
}

const live = new Set<AgentProcess>();
const tempDirs: string[] = [];

/** Starts `node corral-agent.js <args>`; `env` adds variables to a clean environment. */
export function spawnAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  if (!existsSync(AGENT_BUNDLE)) throw new Error(`${AGENT_BUNDLE} is missing: run "npm run build" (npm test does it for you)`);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !INHERITED_SETTINGS.test(k))) as Record<string, string>;
  const child = spawn(process.execPath, [AGENT_BUNDLE, ...args], {
    cwd: ROOT,
    // A private HOME keeps the agent away from a real ~/.corral-agent.
    env: { ...base, HOME: tempDir('corral-agent-home-'), CORRAL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const agent = new AgentProcess(child, args);
  live.add(agent);
  void agent.exited.then(() => live.delete(agent));
  return agent;
}

/** Runs a command that should end by itself (enroll, status, doctor, a refused run) and returns it once exited. */
export async function runAgentCommand(args: string[], timeoutMs = 20_000, env: Record<string, string> = {}): Promise<AgentProcess> {
  const agent = spawnAgent(args, env);
  await agent.waitForExit(timeoutMs);
  return agent;
}

/** Kills every agent process still running (for afterEach: a failed test must not leave one behind). */
export async function stopAllAgents(): Promise<void> {
  await Promise.all([...live].map((a) => a.stop('SIGKILL')));
}

/** A temporary directory removed by `removeTempDirs`. */
export function tempDir(prefix = 'corral-agent-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A state directory the agent creates itself (inside a temporary directory). */
export function newStateDir(): string {
  return join(tempDir('corral-agent-state-'), 'state');
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Enrolled {
  stateDir: string;
  /** What `enroll` logged on stderr. */
  log: string;
  name: string;
  agentId: string;
  fingerprint: string;
  verificationCode: string;
}

export async function enrollmentToken(owner: SignedUp, body: Record<string, unknown> = {}): Promise<string> {
  const res = await owner.client.post('/api/v1/enrollment-tokens', body);
  if (res.status !== 201) throw new Error(`enrollment token: ${res.status} ${res.text}`);
  return res.body.token;
}

/** `corral-agent enroll --json` into a fresh state directory, as an operator would run it. */
export async function enrollAgent(owner: SignedUp, servers: string[]): Promise<Enrolled> {
  const stateDir = newStateDir();
  const name = `web-${randomBytes(3).toString('hex')}`;
  const token = await enrollmentToken(owner);
  const enroll = await runAgentCommand(['enroll', ...servers.flatMap((s) => ['--server', s]), '--token', token, '--name', name, '--state-dir', stateDir, '--json']);
  if (enroll.exitCode !== 0) throw new Error(`enroll failed\n${enroll.describe()}`);
  return { stateDir, name, log: enroll.stderr, ...JSON.parse(enroll.stdout) };
}

export async function approve(owner: SignedUp, agent: Enrolled, labels: { environments?: string[]; roles?: string[] } = {}) {
  const res = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: agent.verificationCode, ...labels });
  if (res.status !== 200) throw new Error(`approve: ${res.status} ${res.text}`);
}

/**
 * A real agent program named `name`, enrolled, approved into these environments with these
 * roles, and running on WebSocket (with `env` added to its environment; `before` runs on its
 * state directory before it starts, e.g. to write a local policy).
 */
export async function runApprovedAgent(
  owner: SignedUp,
  server: string,
  name: string,
  labels: { environments: string[]; roles: string[] },
  options: { env?: Record<string, string>; before?: (stateDir: string) => void } = {},
): Promise<AgentProcess> {
  const stateDir = newStateDir();
  const enroll = await runAgentCommand(['enroll', '--server', server, '--token', await enrollmentToken(owner), '--name', name, '--state-dir', stateDir, '--json']);
  if (enroll.exitCode !== 0) throw new Error(`enroll failed\n${enroll.describe()}`);
  await approve(owner, { stateDir, name, log: enroll.stderr, ...JSON.parse(enroll.stdout) }, labels);
  options.before?.(stateDir);
  const run = spawnAgent(['run', '--state-dir', stateDir, '--transport', 'ws'], options.env);
  await run.waitForOutput(/approved: agent/);
  return run;
}

/** The agent as the API shows it to `owner`. */
export async function agentView(owner: SignedUp, agentId: string) {
  const res = await owner.client.get(`/api/v1/agents/${agentId}`);
  if (res.status !== 200) throw new Error(`GET agent: ${res.status} ${res.text}`);
  return res.body;
}

/** Waits until the API shows the agent online over `transport`. */
export function waitOnline(owner: SignedUp, agentId: string, transport: 'websocket' | 'long-poll', timeoutMs = 15_000) {
  return waitFor(
    `agent ${agentId} online over ${transport}`,
    async () => {
      const { connection } = await agentView(owner, agentId);
      return connection.state === 'online' && connection.transport === transport;
    },
    timeoutMs,
  );
}
