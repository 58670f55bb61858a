import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { Batcher } from '../database/batcher';
import { DRAIN_RECONNECT_MS, NodeLifecycle } from '../nodes/node-lifecycle.service';
import { type AgentJobMessage, type LocalPolicy, PROTOCOL_VERSION, type ServerMessage, type SignedEnvelope, type Transport } from '../protocol/messages';
import type { Agent } from './agent.entity';
import { Admission } from './admission';
import { AgentAuthService } from './agent-auth.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { type AgentStanding, type Connected, AgentsRepository, type HostFacts } from './agents.repository';
import { ServerKeysService } from './server-keys.service';

/** One live agent connection held by this node. */
export interface AgentConnection {
  transport: Transport;
  /** How many jobs the agent runs at once, from its hello. */
  maxJobs: number;
  /** The server key ids the agent trusts, from its hello. */
  pinnedKeys?: string[];
  /** The agent was told on this connection that it is approved: it takes offers. */
  approved?: boolean;
  /** The agent on the other end, as it authenticated. */
  readonly agent?: ConnectedAgent;
  /** The host's local policy, as the agent reported it in its hello. */
  policy?: LocalPolicy | null;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

/** What the task engine needs to know of the agent it talks to. */
export type ConnectedAgent = Pick<Agent, 'id' | 'name' | 'organizationId'>;

/** The work side of an agent connection, provided by the task engine. */
export interface AgentWork {
  /** What the agent should be sent now: offers it has room for (claimed here) and cancellations. */
  pending(agentId: string, maxJobs: number, options: { claim: boolean; cancels: boolean }): Promise<ServerMessage[]>;
  /** Whether an agent's last claim here may have left work waiting for it (it took all the room it had). */
  mayHaveWork(agentId: string): boolean;
  /** Acts on job messages from the agent, in order; returns the replies. */
  handle(agent: ConnectedAgent, messages: AgentJobMessage[]): Promise<ServerMessage[]>;
}

const POLLER_PRESENT_MS = 35_000;

/**
 * The agents this node holds (WebSockets and waiting long-polls). Nothing here is needed by
 * another node: presence goes to PostgreSQL, changes arrive as NOTIFY and are re-read. Presence
 * is written when an agent comes and when it goes, never while it stays: an agent is connected
 * while the node it is connected to lives (nodes beat, and the others release a dead node's
 * agents), so a connected idle agent costs the database nothing.
 */
@Injectable()
export class AgentConnectionsService implements OnModuleInit, OnApplicationShutdown {
  private readonly sockets = new Map<string, Set<AgentConnection>>();
  private readonly pollWaiters = new Map<string, Set<() => void>>();
  private readonly lastPoll = new Map<string, number>();
  private readonly delivering = new Map<string, { again: boolean; cancels: boolean }>();
  // Long-polling agents with news since their last poll: work announced for them, or a cancellation.
  private readonly pollNews = new Map<string, { work: boolean; cancels: boolean }>();
  private timers: NodeJS.Timeout[] = [];
  private work: AgentWork | undefined;
  private admission!: Admission;
  // Presence is written in batches; leaving can wait a moment for company.
  private readonly connects = new Batcher<Connected, AgentStanding | null>((rows) => this.connectBatch(rows), { maxBatch: 1000, concurrency: 2 });
  private readonly disconnects = new Batcher<string, void>((ids) => this.disconnectBatch(ids), { maxBatch: 1000, concurrency: 1, lingerMs: 50 });

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly agents: AgentsRepository,
    private readonly auth: AgentAuthService,
    private readonly events: ClusterEventsService,
    private readonly serverKeys: ServerKeysService,
    private readonly lifecycle: NodeLifecycle,
    private readonly logger: CorralLogger,
  ) {}

  onModuleInit() {
    this.admission = new Admission(this.config.agentConnectsPerSecond);
    this.events.on('agent-changed', ({ agentId }: { agentId: string }) => void this.onAgentChanged(agentId));
    this.events.on('jobs-ready', ({ agentIds, cancels }: { agentIds: string[]; cancels?: boolean }) => this.workAnnounced(agentIds, cancels));
    this.events.on('keys-changed', () => void this.onKeysChanged());
    this.events.on('resync', () => {
      for (const id of this.heldAgentIds()) void this.onAgentChanged(id);
    });
    this.lifecycle.on('draining', () => this.sendAway(DRAIN_RECONNECT_MS));
    this.lifecycle.on('stopping', () => this.sendAwayForShutdown());
    this.timers.push(setInterval(() => this.forgetPollers(), POLLER_PRESENT_MS / 4).unref());
    this.timers.push(setInterval(() => void this.auth.pruneNonces().catch(() => undefined), 60_000).unref());
  }

  /** Work (or, with `cancels`, a cancellation) was announced for these agents: those held here get it now. */
  workAnnounced(agentIds: Iterable<string>, cancels = false) {
    for (const id of agentIds) if (this.holds(id) || this.lastPoll.has(id)) this.deliver(id, cancels);
  }

  /** Asks every agent held here to reconnect (to any node) within `maxDelayMs`, spread at random. */
  private sendAway(maxDelayMs: number) {
    for (const set of this.sockets.values()) for (const c of set) c.send({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs });
    for (const waiters of this.pollWaiters.values()) for (const wake of waiters) wake();
  }

  /** Before the sockets are torn down: agents are told when to come back, spread so that a restarted node admits them as they arrive. */
  private sendAwayForShutdown() {
    const spread = this.returnSpreadMs();
    for (const set of this.sockets.values())
      for (const c of set) {
        c.send({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs: spread });
        c.close(1001, 'SERVER_SHUTDOWN: the control plane node is restarting; reconnect');
      }
    for (const waiters of this.pollWaiters.values()) for (const wake of waiters) wake();
  }

  async onApplicationShutdown() {
    for (const t of this.timers) clearInterval(t);
    await this.agents.clearNodeConnections(this.nodeId).catch(() => undefined);
  }

  get nodeId(): string {
    return this.events.nodeId;
  }

  attachWork(work: AgentWork) {
    this.work = work;
  }

  get workAttached(): AgentWork {
    if (!this.work) throw new Error('no task engine attached to agent connections');
    return this.work;
  }

  /** Admits one new agent connection (null), or says how many seconds it should wait (AGENT_CONNECTS_PER_SECOND). */
  admit(): number | null {
    return this.admission.admit();
  }

  /** How long agents leaving this node should spread their return over, so that they are admitted as they arrive. */
  returnSpreadMs(): number {
    return this.admission.spreadMs(this.heldAgentIds().length);
  }

  /** The agent's connection here ended (and no other of it is held here). */
  markDisconnected(agentId: string) {
    void this.disconnects.submit(agentId).catch((err: Error) => this.logger.event('warn', 'presence update failed', { err: err.message }, 'AgentConnections'));
  }

  /** Records the agent as connected here; its standing as of that moment, or null when it was deleted. */
  markConnected(agentId: string, transport: Transport, facts: HostFacts): Promise<AgentStanding | null> {
    return this.connects.submit({ id: agentId, nodeId: this.nodeId, transport, ...facts });
  }

  /** An authenticated long-poll: the agent counts as connected here (presence) for a while. */
  markPolling(agentId: string) {
    this.lastPoll.set(agentId, Date.now());
  }

  /**
   * What a long-poll should look for: at the start of a session everything; after that, work
   * when some was announced or may still wait, and cancellations when one was announced.
   */
  takePollNews(agentId: string, continuing: boolean): { claim: boolean; cancels: boolean } {
    const news = this.pollNews.get(agentId);
    this.pollNews.delete(agentId);
    if (!continuing) return { claim: true, cancels: true };
    return { claim: Boolean(news?.work) || this.workAttached.mayHaveWork(agentId), cancels: Boolean(news?.cancels) };
  }

  /** Whether this long-poll continues a session this node already serves (not a new connection). */
  isPolling(agentId: string): boolean {
    const at = this.lastPoll.get(agentId);
    return at !== undefined && Date.now() - at < POLLER_PRESENT_MS;
  }

  heldAgentIds(): string[] {
    return [...new Set([...this.sockets.keys(), ...this.pollWaiters.keys(), ...this.lastPoll.keys()])];
  }

  /** The agent's WebSocket here that takes offers now, if it has one. */
  offerSocket(agentId: string): AgentConnection | undefined {
    const latest = [...(this.sockets.get(agentId) ?? [])].at(-1);
    return latest?.approved ? latest : undefined;
  }

  /** Whether this node holds a WebSocket of the agent: it hears of work for it from this node at once. */
  holdsSocket(agentId: string): boolean {
    return this.sockets.has(agentId);
  }

  holds(agentId: string): boolean {
    return this.sockets.has(agentId) || this.pollWaiters.has(agentId);
  }

  socketsByTransport(): Record<Transport, number> {
    return { websocket: this.sockets.size, 'long-poll': [...this.lastPoll.keys()].filter((id) => !this.sockets.has(id)).length };
  }

  /**
   * Sends a WebSocket agent what is waiting for it, or wakes its long-poll (which then asks
   * itself). One delivery per agent at a time; a wake-up during one runs it once more after.
   */
  deliver(agentId: string, cancels = false) {
    if (this.lastPoll.has(agentId)) {
      const news = this.pollNews.get(agentId) ?? { work: false, cancels: false };
      news.work = true;
      news.cancels ||= cancels;
      this.pollNews.set(agentId, news);
    }
    for (const wake of [...(this.pollWaiters.get(agentId) ?? [])]) wake();
    const sockets = this.sockets.get(agentId);
    if (!sockets?.size || !this.work) return;
    const running = this.delivering.get(agentId);
    if (running) {
      running.again = true;
      running.cancels ||= cancels;
      return;
    }
    const state = { again: true, cancels };
    this.delivering.set(agentId, state);
    void (async () => {
      try {
        while (state.again) {
          state.again = false;
          const connection = [...(this.sockets.get(agentId) ?? [])].at(-1);
          if (!connection) break;
          const messages = await this.work!.pending(agentId, connection.maxJobs, { claim: !this.lifecycle.draining, cancels: state.cancels });
          state.cancels = false;
          for (const m of messages) connection.send(m);
        }
      } catch (err) {
        this.logger.event('warn', 'delivering work to an agent failed; the periodic re-check will retry', { agentId, err: (err as Error).message }, 'AgentConnections');
      } finally {
        this.delivering.delete(agentId);
      }
    })();
  }

  statusMessage(agent: Decided): SignedEnvelope {
    return this.serverKeys.sign({ type: 'server.status', v: PROTOCOL_VERSION, agentId: agent.id, status: agent.status, reason: decisionText(agent), issuedAt: Date.now() });
  }

  addSocket(agentId: string, connection: AgentConnection) {
    const set = this.sockets.get(agentId) ?? new Set();
    set.add(connection);
    this.sockets.set(agentId, set);
  }

  removeSocket(agentId: string, connection: AgentConnection): boolean {
    const set = this.sockets.get(agentId);
    set?.delete(connection);
    if (set && set.size === 0) this.sockets.delete(agentId);
    return !this.sockets.has(agentId);
  }

  /** Resolves when the agent changes, work arrives for it, or after `ms`, whichever first; `signal` ends it early. */
  waitForChange(agentId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.pollWaiters.get(agentId) ?? new Set();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0) this.pollWaiters.delete(agentId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      waiters.add(done);
      this.pollWaiters.set(agentId, waiters);
    });
  }

  /** A rotation step: sign with the new active key, and give every agent here the new key set. */
  private async onKeysChanged() {
    try {
      await this.serverKeys.reload();
    } catch (err) {
      return this.logger.event('error', 'cannot reload the server signing keys', { err: (err as Error).message }, 'AgentConnections');
    }
    for (const [agentId, set] of this.sockets)
      for (const connection of set) {
        const keySet = this.serverKeys.keySetFor(agentId, connection.pinnedKeys);
        if (!keySet) continue;
        connection.send(keySet);
        connection.pinnedKeys = this.serverKeys.publicKeys().map((k) => k.keyId);
      }
    for (const waiters of this.pollWaiters.values()) for (const wake of waiters) wake();
  }

  private async onAgentChanged(agentId: string) {
    for (const wake of [...(this.pollWaiters.get(agentId) ?? [])]) wake();
    const sockets = this.sockets.get(agentId);
    if (!sockets?.size) return;
    const agent = await this.auth.standingOf(agentId).catch(() => undefined);
    if (agent === undefined) return;
    for (const connection of sockets) {
      if (!agent) {
        connection.close(4001, 'AGENT_UNKNOWN: this agent was deleted; enroll the host again');
        continue;
      }
      connection.send(this.statusMessage(agent));
      if (agent.status === 'revoked' || agent.status === 'rejected') connection.close(4003, refusal(agent));
    }
  }

  private async connectBatch(rows: Connected[]): Promise<(AgentStanding | null)[]> {
    const fresh = new Map((await this.agents.markConnectedMany(rows)).map((a) => [a.id, a]));
    return rows.map((r) => fresh.get(r.id) ?? null);
  }

  private async disconnectBatch(ids: string[]): Promise<void[]> {
    await this.agents.markDisconnected([...new Set(ids)], this.nodeId);
    return ids.map(() => undefined);
  }

  // A long-polling agent that stopped asking has left this node.
  private forgetPollers() {
    const now = Date.now();
    for (const [id, at] of this.lastPoll)
      if (now - at > POLLER_PRESENT_MS) {
        this.lastPoll.delete(id);
        this.pollNews.delete(id);
        if (!this.sockets.has(id)) this.markDisconnected(id);
      }
  }
}

/** An agent's status and who decided it. */
type Decided = Pick<Agent, 'id' | 'name' | 'status' | 'decidedByLabel' | 'decisionReason'>;

/** Who decided the agent's status and why, as the agent is told it ("revoked by ops@acme.test: key leaked"). */
export function decisionText(agent: Decided): string | null {
  if (agent.status === 'pending' || !agent.decidedByLabel) return agent.decisionReason;
  return `${agent.status} by ${agent.decidedByLabel}${agent.decisionReason ? `: ${agent.decisionReason}` : ''}`;
}

/** `CODE: message` for an agent that may not connect, as close reasons and errors carry it. */
export function refusal(agent: Decided): string {
  const by = agent.decidedByLabel ? ` by ${agent.decidedByLabel}` : '';
  const why = agent.decisionReason ? ` (${agent.decisionReason})` : '';
  // WebSocket close reasons are limited to 123 bytes.
  return `AGENT_${agent.status.toUpperCase()}: agent "${agent.name}" was ${agent.status}${by}${why}`.slice(0, 120);
}
