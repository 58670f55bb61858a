import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { PROTOCOL_VERSION, type ServerMessage, type SignedEnvelope, type Transport } from '../protocol/messages';
import type { Agent } from './agent.entity';
import { AgentAuthService } from './agent-auth.service';
import { AgentEventsService } from './agent-events.service';
import { AgentsRepository } from './agents.repository';
import { ServerKeysService } from './server-keys.service';

/** One live agent connection held by this node. */
export interface AgentConnection {
  transport: Transport;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

const POLLER_PRESENT_MS = 35_000;

/**
 * The agents this node holds (WebSockets and waiting long-polls). Nothing here is needed by
 * another node: presence goes to PostgreSQL, changes arrive as NOTIFY and are re-read.
 */
@Injectable()
export class AgentConnectionsService implements OnModuleInit, OnApplicationShutdown {
  readonly nodeId = randomUUID();
  private readonly sockets = new Map<string, Set<AgentConnection>>();
  private readonly pollWaiters = new Map<string, Set<() => void>>();
  private readonly lastPoll = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly agents: AgentsRepository,
    private readonly auth: AgentAuthService,
    private readonly events: AgentEventsService,
    private readonly serverKeys: ServerKeysService,
    private readonly logger: CorralLogger,
  ) {}

  onModuleInit() {
    this.events.on('agent-changed', ({ agentId }: { agentId: string }) => void this.onAgentChanged(agentId));
    this.events.on('resync', () => {
      for (const id of new Set([...this.sockets.keys(), ...this.pollWaiters.keys()])) void this.onAgentChanged(id);
    });
    this.timers.push(setInterval(() => void this.touch(), this.config.agentPingSeconds * 1000).unref());
    this.timers.push(setInterval(() => void this.auth.pruneNonces().catch(() => undefined), 60_000).unref());
  }

  async onApplicationShutdown() {
    for (const t of this.timers) clearInterval(t);
    for (const set of this.sockets.values()) for (const c of set) c.close(1001, 'SERVER_SHUTDOWN: the control plane node is restarting; reconnect');
    for (const waiters of this.pollWaiters.values()) for (const wake of waiters) wake();
    await this.agents.clearNodeConnections(this.nodeId).catch(() => undefined);
  }

  statusMessage(agent: Agent): SignedEnvelope {
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

  /** Resolves when the agent changes or after `ms`, whichever first; `signal` ends it early. */
  waitForChange(agentId: string, ms: number, signal: AbortSignal): Promise<void> {
    this.lastPoll.set(agentId, Date.now());
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

  get connectedCount() {
    return this.sockets.size;
  }

  private async onAgentChanged(agentId: string) {
    for (const wake of [...(this.pollWaiters.get(agentId) ?? [])]) wake();
    const sockets = this.sockets.get(agentId);
    if (!sockets?.size) return;
    const agent = await this.agents.findForAuthentication(agentId).catch(() => undefined);
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

  // Presence for every agent held here in one statement, instead of one write per agent.
  private async touch() {
    const now = Date.now();
    for (const [id, at] of this.lastPoll) if (now - at > POLLER_PRESENT_MS) this.lastPoll.delete(id);
    const ids = [...new Set([...this.sockets.keys(), ...this.lastPoll.keys()])];
    await this.agents.touchConnected(this.nodeId, ids).catch((err: Error) => this.logger.event('warn', 'presence update failed', { err: err.message }, 'AgentConnections'));
  }
}

/** Who decided the agent's status and why, as the agent is told it ("revoked by ops@acme.test: key leaked"). */
export function decisionText(agent: Agent): string | null {
  if (agent.status === 'pending' || !agent.decidedByLabel) return agent.decisionReason;
  return `${agent.status} by ${agent.decidedByLabel}${agent.decisionReason ? `: ${agent.decisionReason}` : ''}`;
}

/** `CODE: message` for an agent that may not connect, as close reasons and errors carry it. */
export function refusal(agent: Agent): string {
  const by = agent.decidedByLabel ? ` by ${agent.decidedByLabel}` : '';
  const why = agent.decisionReason ? ` (${agent.decisionReason})` : '';
  // WebSocket close reasons are limited to 123 bytes.
  return `AGENT_${agent.status.toUpperCase()}: agent "${agent.name}" was ${agent.status}${by}${why}`.slice(0, 120);
}
