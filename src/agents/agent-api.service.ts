import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { z } from 'zod';
import { DomainException } from '../common/domain.exception';
import { EnrollRequestSchema, LONG_POLL_HOLD_MS, PollRequestSchema, type PollResponse } from '../protocol/messages';
import type { Agent } from './agent.entity';
import { AgentAuthService, type SignedRequest } from './agent-auth.service';
import { AgentConnectionsService, refusal } from './agent-connections.service';
import { AgentsErrorCode, AgentsException } from './agents.exception';
import { AgentsRepository } from './agents.repository';
import { AgentsService } from './agents.service';

/** Validates with a protocol schema; failures name each bad field, like every other 422. */
export function parseOrReject<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const details = result.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', problems: [i.message] }));
  throw new DomainException('VALIDATION_FAILED', details.map((d) => `${d.field}: ${d.problems[0]}`).join('; '), 422, details);
}

function signed(req: Request): SignedRequest {
  return { method: req.method, path: req.originalUrl, headers: req.headers, rawBody: (req as Request & { rawBody?: Buffer }).rawBody };
}

@Injectable()
export class AgentApiService {
  constructor(
    private readonly auth: AgentAuthService,
    private readonly agentsService: AgentsService,
    private readonly agents: AgentsRepository,
    private readonly connections: AgentConnectionsService,
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

  /** Answers at once when the agent's view is stale, else holds until a change or the hold time. */
  async poll(req: Request, body: unknown): Promise<PollResponse> {
    let agent = await this.auth.authenticate(signed(req));
    const poll = parseOrReject(PollRequestSchema, body);
    if ((agent.status === 'revoked' || agent.status === 'rejected') && poll.knownStatus === agent.status) await this.refuse(agent);
    const { hostname, os, arch, agentVersion, policy } = poll;
    await this.agents.markConnected(agent.id, this.connections.nodeId, 'long-poll', { hostname, os, arch, agentVersion, policy });
    if (poll.knownStatus === agent.status) {
      const aborted = new AbortController();
      req.once('close', () => aborted.abort());
      await this.connections.waitForChange(agent.id, LONG_POLL_HOLD_MS, aborted.signal);
      const fresh = await this.agents.findForAuthentication(agent.id);
      if (!fresh) throw new AgentsException(AgentsErrorCode.AGENT_UNKNOWN, 'this agent was deleted; enroll the host again');
      agent = fresh;
    }
    const messages = poll.knownStatus === agent.status ? [] : [this.connections.statusMessage(agent)];
    return { messages, serverTime: Date.now() };
  }

  private async refuse(agent: Agent): Promise<never> {
    await this.agents.recordError(agent.id, `refused: ${refusal(agent)}`);
    const [code, message] = refusal(agent).split(/: (.*)/s);
    throw new AgentsException(code as AgentsErrorCode, `${message}; this host must be enrolled again to be trusted`);
  }
}
