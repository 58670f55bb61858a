import type { SoakAgent } from './soak-agents';
import type { SoakNodes } from './soak-nodes';
import type { SoakPostgres } from './soak-postgres';
import type { DropMode } from './soak-proxy';
import type { SoakRandom } from './soak-random';

export const FAULT_KINDS = ['kill-node', 'kill-agent', 'kill-postgres', 'pause-agent', 'drop-connection'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One fault as it happened: when (ms into the soak), to what, and how long until it was undone. */
export interface FaultEvent {
  atMs: number;
  kind: FaultKind;
  target: string;
  detail: string;
  recoveredAfterMs: number;
}

export interface FaultTargets {
  nodes: SoakNodes;
  postgres: SoakPostgres;
  agents: SoakAgent[];
  random: SoakRandom;
  leaseSeconds: number;
  /** Agents with a job running now: a fault that meets a running job tests more than one that meets an idle agent. */
  busyAgents: () => Promise<Set<string>>;
  progress: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Injects one fault at a time and undoes it before returning: kill -9 of a node, of an agent or
 * of PostgreSQL (each started again after a moment, on the same port or state directory), an
 * agent stopped (SIGSTOP) for longer than its lease, or an agent's connections cut. Kinds come
 * from a shuffled bag, so a short run still meets as many different kinds as it has faults.
 */
export class FaultInjector {
  readonly counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  readonly events: FaultEvent[] = [];
  private bag: FaultKind[] = [];

  constructor(
    private readonly t: FaultTargets,
    private readonly startedAt: number,
  ) {}

  async injectNext(): Promise<void> {
    if (!this.bag.length) this.bag = this.t.random.shuffle(FAULT_KINDS);
    await this.inject(this.bag.pop()!);
  }

  async inject(kind: FaultKind): Promise<void> {
    const atMs = Date.now() - this.startedAt;
    this.t.progress(`fault ${kind}: injecting`);
    const { target, detail, undo } = await this.faults[kind]();
    const undoneAt = Date.now();
    await undo();
    const event = { atMs, kind, target, detail, recoveredAfterMs: Date.now() - undoneAt };
    this.counts[kind]++;
    this.events.push(event);
    this.t.progress(`fault ${kind}: ${target} (${detail}); recovered in ${event.recoveredAfterMs} ms`);
  }

  /** Each fault: do it, and say how to undo it. */
  private readonly faults: Record<FaultKind, () => Promise<{ target: string; detail: string; undo: () => Promise<void> }>> = {
    'kill-node': async () => {
      const slot = this.t.random.pick(this.t.nodes.up());
      const pid = await this.t.nodes.kill9(slot);
      const downMs = await this.pause(0, 3);
      return { target: `node ${slot}`, detail: `kill -9 of pid ${pid}, down ${downMs} ms`, undo: () => this.t.nodes.start(slot).then(() => undefined) };
    },
    'kill-agent': async () => {
      const agent = await this.pickAgent();
      const pid = await agent.kill9();
      const downMs = await this.pause(0, 3);
      return { target: agent.name, detail: `kill -9 of pid ${pid}, down ${downMs} ms`, undo: () => agent.run() };
    },
    'kill-postgres': async () => {
      const pid = await this.t.postgres.kill9();
      const downMs = await this.pause(0, 3);
      return {
        target: 'postgresql',
        detail: `kill -9 of postmaster pid ${pid}, down ${downMs} ms after its backends exited`,
        undo: async () => {
          await this.t.postgres.restart();
          await this.t.nodes.ready();
        },
      };
    },
    'pause-agent': async () => {
      const agent = await this.pickAgent();
      // Longer than a lease, so the control plane must give up on its running jobs meanwhile.
      const stoppedMs = Math.round(this.t.random.between(this.t.leaseSeconds + 3, this.t.leaseSeconds + 6) * 1000);
      agent.pause();
      await sleep(stoppedMs);
      return { target: agent.name, detail: `SIGSTOP for ${stoppedMs} ms (lease ${this.t.leaseSeconds} s)`, undo: async () => agent.resume() };
    },
    'drop-connection': async () => {
      const agents = this.t.random.sample(this.up(), this.t.random.int(1, 5));
      const mode: DropMode = this.t.random.pick(['close', 'reset']);
      const cut = agents.reduce((n, a) => n + a.drop(mode), 0);
      return { target: agents.map((a) => a.name).join(', '), detail: `${cut} connection(s) cut with ${mode === 'reset' ? 'RST' : 'FIN'}`, undo: async () => undefined };
    },
  };

  private up(): SoakAgent[] {
    return this.t.agents.filter((a) => a.up && !a.revoked && !a.paused);
  }

  /** An agent that is up, preferably one running a job. */
  private async pickAgent(): Promise<SoakAgent> {
    const candidates = this.up();
    const busy = await this.t.busyAgents().catch(() => new Set<string>());
    const running = candidates.filter((a) => busy.has(a.agentId));
    return this.t.random.pick(running.length ? running : candidates);
  }

  /** A random pause of `min` to `max` seconds; returns its length in ms. */
  private async pause(min: number, max: number): Promise<number> {
    const ms = Math.round(this.t.random.between(min, max) * 1000);
    await sleep(ms);
    return ms;
  }
}
