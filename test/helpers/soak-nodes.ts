import { type ControlPlaneProcess, startControlPlane, waitFor } from './control-plane-process';

export type NodeSlot = 'A' | 'B';
export const NODE_SLOTS: readonly NodeSlot[] = ['A', 'B'];

const RESTART_DELAY_MS = 1_000;

/**
 * The soak's two control-plane nodes on one database. A slot is a node's place in the cluster:
 * a node killed with -9 is started again in the same slot (on a new port; the agents' proxies
 * look it up), so the agents' server lists never change. A node that exits by itself is a crash:
 * it is recorded, and started again as a service manager would (Restart=on-failure), so the rest
 * of the run, and its history, still count.
 */
export class SoakNodes {
  private readonly current = new Map<NodeSlot, ControlPlaneProcess>();
  private readonly starting = new Map<NodeSlot, Promise<ControlPlaneProcess>>();
  private readonly killed = new Set<ControlPlaneProcess>();
  private closing = false;
  /** Every node process started, in order, for the logs. */
  readonly started: { slot: NodeSlot; node: ControlPlaneProcess }[] = [];
  /** Nodes that exited without being killed by the soak: crashes. */
  readonly unexpectedExits: string[] = [];
  /** Nodes stopped by a signal the soak did not send (another user of the machine): not the node's doing, but named in the summary. */
  readonly interruptions: string[] = [];

  constructor(private readonly env: Record<string, string>) {}

  async startAll(): Promise<void> {
    await Promise.all(NODE_SLOTS.map((slot) => this.start(slot)));
  }

  /** Starts the node of `slot` (once, whoever asks), retrying while it cannot start (its database is down). */
  start(slot: NodeSlot): Promise<ControlPlaneProcess> {
    const pending = this.starting.get(slot);
    if (pending) return pending;
    const start = waitFor(
      `node ${slot} to start`,
      async () => {
        if (this.closing) throw Object.assign(new Error('the soak is over'), { fatal: true });
        return startControlPlane(this.env, 90_000);
      },
      180_000,
      RESTART_DELAY_MS,
    )
      .then((node) => {
        this.adopt(slot, node);
        return node;
      })
      .finally(() => this.starting.delete(slot));
    this.starting.set(slot, start);
    return start;
  }

  private adopt(slot: NodeSlot, node: ControlPlaneProcess) {
    this.current.set(slot, node);
    this.started.push({ slot, node });
    void node.exited.then((code) => {
      if (this.current.get(slot) === node) this.current.delete(slot);
      if (this.killed.has(node) || this.closing) return;
      const signal = /"msg":"received (SIG[A-Z]+), shutting down"/.exec(node.output())?.[1];
      if (signal) this.interruptions.push(`node ${slot} (pid ${node.child.pid}) got ${signal} from outside the soak and stopped (exit ${code})`);
      else this.unexpectedExits.push(`node ${slot} (pid ${node.child.pid}) exited by itself with ${code}: ${lastLines(node.output(), 40)}`);
      void this.start(slot).catch(() => undefined);
    });
  }

  /** kill -9 of the node in `slot`; returns its pid. */
  async kill9(slot: NodeSlot): Promise<number> {
    const node = this.current.get(slot);
    if (!node) throw new Error(`node ${slot} is not running`);
    this.killed.add(node);
    this.current.delete(slot);
    node.child.kill('SIGKILL');
    await node.exited;
    return node.child.pid!;
  }

  port(slot: NodeSlot): number | undefined {
    return this.current.get(slot)?.port;
  }

  /** The API of every node up now (for the task creator, which uses whichever answers). */
  liveUrls(): string[] {
    return NODE_SLOTS.flatMap((slot) => {
      const node = this.current.get(slot);
      return node ? [node.url] : [];
    });
  }

  up(): NodeSlot[] {
    return NODE_SLOTS.filter((slot) => this.current.has(slot));
  }

  /** Waits (bounded) until both nodes are up (a crashed one started again) and answer /readyz: their database is reachable. */
  async ready(timeoutMs = 120_000): Promise<void> {
    await waitFor(
      'both nodes up and ready',
      async () => {
        for (const slot of NODE_SLOTS) if (!this.current.has(slot)) await this.start(slot);
        const answers = await Promise.all(this.liveUrls().map((url) => fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status)));
        return answers.length === NODE_SLOTS.length && answers.every((s) => s === 200);
      },
      timeoutMs,
      250,
    );
  }

  async stopAll(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.starting.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.current.values()].map((node) => node.stop()));
    this.current.clear();
  }
}

function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n');
}
