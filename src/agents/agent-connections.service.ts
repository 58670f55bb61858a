import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { DRAIN_RECONNECT_MS, NodeLifecycle } from '../nodes/node-lifecycle.service';
import { Admission } from './admission';
import { AgentAuthService } from './agent-auth.service';
import { AgentDelivery, type AgentWork } from './agent-delivery.service';
import { AgentNotices } from './agent-notices.service';
import { AgentPresence } from './agent-presence.service';
import type { AgentSession } from './agent-session';
import { POLLER_PRESENT_MS, SessionRegistry } from './session-registry.service';

export type { AgentWork } from './agent-delivery.service';
export type { AgentConnection, ConnectedAgent } from './agent-session';

/**
 * The agents this node holds (WebSockets and waiting long-polls), as the rest of the server sees
 * them: it wires cluster events and this node's lifecycle to the parts that act on them (the
 * registry of sessions, presence, delivery of work, notices) and paces new connections. Nothing
 * here is needed by another node: presence goes to PostgreSQL, changes arrive as NOTIFY and are
 * re-read.
 */
@Injectable()
export class AgentConnectionsService implements OnModuleInit, OnApplicationShutdown {
  private timers: NodeJS.Timeout[] = [];
  private admission!: Admission;

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly registry: SessionRegistry,
    private readonly presence: AgentPresence,
    private readonly delivery: AgentDelivery,
    private readonly notices: AgentNotices,
    private readonly auth: AgentAuthService,
    private readonly events: ClusterEventsService,
    private readonly lifecycle: NodeLifecycle,
  ) {}

  onModuleInit() {
    this.admission = new Admission(this.config.agentConnectsPerSecond);
    this.events.on('agent-changed', ({ agentId }) => void this.notices.standingChanged(agentId));
    this.events.on('jobs-ready', ({ agentIds, cancels }) => this.delivery.workAnnounced(agentIds, cancels));
    this.events.on('keys-changed', () => void this.notices.keysChanged());
    this.events.on('resync', () => {
      for (const id of this.registry.heldAgentIds()) void this.notices.standingChanged(id);
    });
    this.lifecycle.on('draining', () => this.notices.sendAway(DRAIN_RECONNECT_MS));
    this.lifecycle.on('stopping', () => this.notices.sendHome(this.returnSpreadMs()));
    // A long-polling agent that stopped asking has left this node.
    this.timers.push(setInterval(() => this.registry.forgetPollers().forEach((id) => this.presence.markDisconnected(id)), POLLER_PRESENT_MS / 4).unref());
    this.timers.push(setInterval(() => void this.auth.pruneNonces().catch(() => undefined), 60_000).unref());
  }

  async onApplicationShutdown() {
    for (const t of this.timers) clearInterval(t);
    await this.presence.clearNode();
  }

  get nodeId(): string {
    return this.events.nodeId;
  }

  attachWork(work: AgentWork) {
    this.delivery.attachWork(work);
  }

  /** Work (or, with `cancels`, a cancellation) was announced for these agents: those held here get it now. */
  workAnnounced(agentIds: Iterable<string>, cancels = false) {
    this.delivery.workAnnounced(agentIds, cancels);
  }

  /** Sends a WebSocket agent what is waiting for it, or wakes its long-poll. */
  deliver(agentId: string, cancels = false) {
    this.delivery.deliver(agentId, cancels);
  }

  /** Admits one new agent connection (null), or says how many seconds it should wait (AGENT_CONNECTS_PER_SECOND). */
  admit(): number | null {
    return this.admission.admit();
  }

  /** How long agents leaving this node should spread their return over, so that they are admitted as they arrive. */
  returnSpreadMs(): number {
    return this.admission.spreadMs(this.registry.heldAgentIds().length);
  }

  /** The agent's WebSocket here that takes offers now, if it has one. */
  offerSocket(agentId: string): AgentSession | undefined {
    const latest = this.registry.latestSocket(agentId);
    return latest?.takesOffers ? latest : undefined;
  }

  /** Whether this node holds a WebSocket of the agent: it hears of work for it from this node at once. */
  holdsSocket(agentId: string): boolean {
    return this.registry.holdsSocket(agentId);
  }

  holds(agentId: string): boolean {
    return this.registry.holds(agentId);
  }

  socketsByTransport() {
    return this.registry.countByTransport();
  }
}
