import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { DomainException } from '../common/domain.exception';
import { parseOrReject } from '../common/validation';
import { DRAIN_RECONNECT_MS, NodeLifecycle } from '../nodes/node-lifecycle.service';
import { PROTOCOL_VERSION } from '../protocol/messages';
import {
  type AgentJobMessage,
  AgentMessagesRequestSchema,
  EnrollRequestSchema,
  LONG_POLL_HOLD_MS,
  type PollRequest,
  PollRequestSchema,
  type PollResponse,
  type ServerMessage,
} from '../protocol/messages';
import { AgentAuthService, type SignedRequest } from './agent-auth.service';
import { AgentConnectionsService } from './agent-connections.service';
import { refusal } from './agent-decision';
import { AgentDelivery } from './agent-delivery.service';
import { AgentNotices } from './agent-notices.service';
import { AgentPolicyReports } from './agent-policy.service';
import { AgentPresence } from './agent-presence.service';
import { AgentsErrorCode, AgentsException } from './agents.exception';
import type { AgentStanding } from './agents.repository';
import { AgentsService } from './agents.service';
import { ServerKeysService } from './server-keys.service';
import { SessionRegistry } from './session-registry.service';

function deleted(): never {
  throw new AgentsException(AgentsErrorCode.AGENT_UNKNOWN, 'this agent was deleted; enroll the host again');
}

function signed(req: Request): SignedRequest {
  return { method: req.method, path: req.originalUrl, headers: req.headers, rawBody: (req as Request & { rawBody?: Buffer }).rawBody };
}

@Injectable()
export class AgentApiService {
  constructor(
    private readonly auth: AgentAuthService,
    private readonly agentsService: AgentsService,
    private readonly connections: AgentConnectionsService,
    private readonly registry: SessionRegistry,
    private readonly presence: AgentPresence,
    private readonly delivery: AgentDelivery,
    private readonly notices: AgentNotices,
    private readonly serverKeys: ServerKeysService,
    private readonly lifecycle: NodeLifecycle,
    private readonly policies: AgentPolicyReports,
  ) {}

  async enroll(req: Request, body: unknown, ip: string) {
    const request = parseOrReject(EnrollRequestSchema, body);
    await this.auth.verifyEnrollment(signed(req), request.publicKey);
    return this.agentsService.enroll(request, ip);
  }

  async whoami(req: Request) {
    const agent = await this.auth.authenticate(signed(req));
    return { agentId: agent.id, name: agent.name, status: agent.status };
  }

  /**
   * Answers at once when the agent's view of its status is stale or work waits for it; else
   * holds until something changes or the hold time passes.
   */
  async poll(req: Request, body: unknown): Promise<PollResponse> {
    this.admitPoll(req);
    // Watch for changes before reading anything, so one that lands while we read is not missed.
    const watch = new AbortController();
    // The response closes early only when the agent (or a proxy) hung up; the request's own
    // 'close' fires as soon as its body has been read.
    req.res?.once('close', () => watch.abort());
    const agentId = String(req.headers['x-corral-agent-id'] ?? '');
    const changed = this.registry.waitForChange(agentId, LONG_POLL_HOLD_MS, watch.signal);
    try {
      let agent = await this.auth.authenticate(signed(req), true);
      const poll = parseOrReject(PollRequestSchema, body);
      if (agent.status === 'revoked' || agent.status === 'rejected') {
        // Refused, never marked connected: it is told once (signed), then turned away.
        if (poll.knownStatus === agent.status) await this.refuse(agent);
        await this.auth.recordRefusal(agent);
        return { messages: [this.notices.statusMessage(agent)], serverTime: Date.now() };
      }
      const { hostname, os, arch, agentVersion, policy } = poll;
      // A poll continuing a session here costs no write: presence is flushed in batches.
      const continuing = this.registry.isPolling(agent.id);
      this.registry.markPolling(agent.id);
      if (!continuing) agent = (await this.presence.markConnected(agent.id, 'long-poll', { hostname, os, arch, agentVersion, policy })) ?? deleted();
      let messages = await this.waiting(agent, poll, this.delivery.takePollNews(agent.id, continuing));
      if (messages.length) return { messages, serverTime: Date.now() };
      await changed;
      if (req.socket.destroyed) return { messages: [], serverTime: Date.now() };
      agent = (await this.auth.rememberedStanding(agent.id)) ?? deleted();
      messages = await this.waiting(agent, poll, this.delivery.takePollNews(agent.id, true));
      return { messages, serverTime: Date.now() };
    } finally {
      watch.abort();
    }
  }

  /** Job messages (and policy changes) from a long-polling agent; the answer carries the replies. */
  async messages(req: Request, body: unknown): Promise<PollResponse> {
    const agent = await this.auth.authenticate(signed(req), true);
    const request = parseOrReject(AgentMessagesRequestSchema, body);
    const jobMessages: AgentJobMessage[] = [];
    // A policy change comes first: the job messages beside it were sent under it.
    for (const m of request.messages) {
      if (m.type === 'agent.policy') await this.policies.reported(agent, m.policy, 'long-poll');
      else jobMessages.push(m);
    }
    return { messages: jobMessages.length ? await this.delivery.workAttached.handle(agent, jobMessages) : [], serverTime: Date.now() };
  }

  private async waiting(agent: AgentStanding, poll: PollRequest, look: { claim: boolean; cancels: boolean }): Promise<ServerMessage[]> {
    const { knownStatus, maxJobs } = poll;
    const messages: ServerMessage[] = knownStatus === agent.status ? [] : [this.notices.statusMessage(agent)];
    const keySet = this.serverKeys.keySetFor(agent.id, poll.pinnedKeys);
    if (keySet) messages.push(keySet);
    if (agent.status !== 'approved') return messages;
    if (this.lifecycle.stopping) messages.push({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs: this.connections.returnSpreadMs() });
    else if (this.lifecycle.draining) messages.push({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs: DRAIN_RECONNECT_MS });
    else if (look.claim || look.cancels) messages.push(...(await this.delivery.workAttached.pending(agent, maxJobs, look)));
    return messages;
  }

  // A poll that starts a session (not one continuing here) is a new connection: admitted at
  // the node's rate, and refused while the node drains.
  private admitPoll(req: Request) {
    const agentId = req.headers['x-corral-agent-id'];
    if (typeof agentId === 'string' && this.registry.isPolling(agentId) && !this.lifecycle.draining) return;
    if (this.lifecycle.draining) throw new DomainException('NODE_DRAINING', 'this control-plane node is draining; connect to another', 503, undefined, { 'retry-after': '1' });
    const wait = this.connections.admit();
    if (wait !== null) throw new DomainException('RATE_LIMITED', `too many agents connecting at once; retry in ${wait} s`, 429, undefined, { 'retry-after': String(wait) });
  }

  private async refuse(agent: AgentStanding): Promise<never> {
    await this.auth.recordRefusal(agent);
    const [code, message] = refusal(agent).split(/: (.*)/s);
    throw new AgentsException(code as AgentsErrorCode, `${message}; this host must be enrolled again to be trusted`);
  }
}
