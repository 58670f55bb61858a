import { type AgentProcess, approve, enrollmentToken, newStateDir, runAgentCommand, spawnAgent } from './agent-process';
import type { SignedUp } from './factories';
import type { NodeSlot, SoakNodes } from './soak-nodes';
import { killAll, processesUnder } from './soak-processes';
import { type DropMode, SoakProxy } from './soak-proxy';

export type AgentTransport = 'ws' | 'poll';

/** Jobs each agent runs at once: more than one, so a fault meets jobs side by side. */
export const SOAK_MAX_JOBS = 2;

/**
 * One real agent program of the soak, with its own state directory (kept across restarts, as a
 * host keeps /var/lib/corral-agent) and its own proxies to both nodes, so its connections can be
 * cut without touching any other agent's.
 */
export class SoakAgent {
  process: AgentProcess | undefined;
  /** Every process run on this state directory, for the logs. */
  readonly incarnations: AgentProcess[] = [];
  paused = false;
  revoked = false;
  private readonly killed = new Set<AgentProcess>();
  private closing = false;

  constructor(
    readonly name: string,
    readonly agentId: string,
    readonly stateDir: string,
    readonly transport: AgentTransport,
    private readonly proxies: SoakProxy[],
    private readonly unexpectedExit: (what: string) => void,
    private readonly interrupted: (what: string) => void,
  ) {}

  get up(): boolean {
    return this.process?.running ?? false;
  }

  /** Runs the agent on its state directory and waits (bounded) until it is connected and knows it is approved. */
  async run(timeoutMs = 90_000): Promise<void> {
    const agent = spawnAgent(['run', '--state-dir', this.stateDir, '--transport', this.transport, '--max-jobs', String(SOAK_MAX_JOBS)]);
    this.process = agent;
    this.incarnations.push(agent);
    void agent.exited.then((code) => {
      // A revoked agent exits with 3 by design; anything else the soak did not ask for is a crash
      // (or a signal from outside, named apart), and the agent is started again as its service
      // manager would (Restart=on-failure).
      if (this.killed.has(agent) || this.closing || (this.revoked && code === 3)) return;
      const signal = /\b(SIG[A-Z]+) received: stopping/.exec(agent.output)?.[1];
      if (signal) this.interrupted(`agent ${this.name} (pid ${agent.child.pid}) got ${signal} from outside the soak and stopped (exit ${code})`);
      else this.unexpectedExit(`agent ${this.name} (pid ${agent.child.pid}) exited by itself with ${agent.exitCode}: ${agent.output.split('\n').slice(-40).join('\n')}`);
      if (code !== 2 && code !== 3) setTimeout(() => void this.run().catch(() => undefined), 1_000);
    });
    await agent.waitForOutput(/approved: agent/, timeoutMs);
  }

  /** kill -9 of the agent process (its jobs' process groups live on, as they would on a host); returns its pid. */
  async kill9(): Promise<number> {
    const agent = this.process;
    if (!agent?.running) throw new Error(`agent ${this.name} is not running`);
    this.killed.add(agent);
    this.resume();
    agent.child.kill('SIGKILL');
    await agent.exited;
    return agent.child.pid!;
  }

  pause(): void {
    this.process?.child.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (this.paused) this.process?.child.kill('SIGCONT');
    this.paused = false;
  }

  /** Cuts the agent's connections to both nodes; returns how many were open. */
  drop(mode: DropMode): number {
    return this.proxies.reduce((n, proxy) => n + proxy.drop(mode), 0);
  }

  /** Ends the agent for good (cleanup), and the jobs its killed incarnations left running in their working directories. */
  async stop(): Promise<void> {
    this.closing = true;
    this.resume();
    await this.process?.stop('SIGKILL');
    killAll(processesUnder(this.stateDir));
  }

  async closeProxies(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}

/** Runs `work` over `items`, at most `width` at a time (enrolling 50 agents at once would starve two cores). */
async function inBatches<T, R>(items: T[], width: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

export interface FleetExits {
  unexpected: (what: string) => void;
  interrupted: (what: string) => void;
}

/**
 * Enrolls `count` agents through their proxies (half of them list node A first, half node B),
 * approves them, and runs them all. Every fifth agent long-polls; the others use WebSocket. Each
 * goes into `fleet` as soon as it exists, so the caller can clean up after a failed start too.
 */
export async function startFleet(fleet: SoakAgent[], owner: SignedUp, nodes: SoakNodes, count: number, exits: FleetExits): Promise<void> {
  const token = await enrollmentToken(owner, { expiresInMinutes: 60, maxUses: count });
  await inBatches(Array.from({ length: count }), 8, async (_, i) => {
    const proxies = await Promise.all((['A', 'B'] as NodeSlot[]).map((slot) => new SoakProxy(() => nodes.port(slot)).listen()));
    const servers = i % 2 === 0 ? proxies : [...proxies].reverse();
    const name = `soak-${String(i).padStart(2, '0')}`;
    const stateDir = newStateDir();
    const enroll = await runAgentCommand(['enroll', ...servers.flatMap((p) => ['--server', p.url]), '--token', token, '--name', name, '--state-dir', stateDir, '--json'], 60_000);
    if (enroll.exitCode !== 0) {
      await Promise.all(proxies.map((p) => p.close()));
      throw new Error(`enroll failed\n${enroll.describe()}`);
    }
    const printed = JSON.parse(enroll.stdout);
    const agent = new SoakAgent(name, printed.agentId, stateDir, i % 5 === 4 ? 'poll' : 'ws', proxies, exits.unexpected, exits.interrupted);
    fleet.push(agent);
    await approve(owner, { stateDir, name, log: enroll.stderr, ...printed });
  });
  fleet.sort((a, b) => a.name.localeCompare(b.name));
  await Promise.all(fleet.map((agent) => agent.run()));
}
