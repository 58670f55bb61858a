import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Actor, actorLabel } from '../common/actor';
import { CorralLogger } from '../common/logger';
import { NotFoundException } from '../common/domain.exception';
import { sha256Hex } from '../common/secrets';
import { fingerprintOf, normalizeVerificationCode, publicKeyFromRaw, verificationCodeOf } from '../protocol/identity';
import type { AgentStatus, EnrollRequest, EnrollResponse } from '../protocol/messages';
import type { Agent } from './agent.entity';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { AgentsErrorCode, AgentsException } from './agents.exception';
import { AgentsRepository } from './agents.repository';
import type { ApproveAgentDto, UpdateAgentDto } from './dto/approve-agent.dto';
import { AgentEnvironments } from './agent-environments';
import { EnrollmentTokensRepository } from './enrollment-tokens.repository';
import { ServerKeysService } from './server-keys.service';
import type { AgentHealth } from './agent-health.view';

/**
 * What the API shows of an agent. It is online while connected to a node (a node that stops
 * beating has its agents released by the others), and then it was last seen now.
 */
export function agentView(a: Agent, now = Date.now()) {
  const online = a.connectedNodeId !== null;
  return {
    id: a.id,
    name: a.name,
    hostname: a.hostname,
    os: a.os,
    arch: a.arch,
    agentVersion: a.agentVersion,
    fingerprint: a.fingerprint,
    verificationCode: a.verificationCode,
    status: a.status,
    enrolledAt: a.enrolledAt,
    decidedBy: a.decidedByLabel,
    decidedById: a.decidedBy,
    decidedAt: a.decidedAt,
    decisionReason: a.decisionReason,
    conflictsWith: a.conflictsWith,
    environments: a.environments,
    roles: a.roles,
    connection: { state: online ? ('online' as const) : ('offline' as const), transport: online ? a.transport : null, lastSeenAt: online ? new Date(now) : a.lastSeenAt, lastError: a.lastError },
    policy: a.policy,
    health: a.health,
  };
}

@Injectable()
export class AgentsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentsRepository,
    private readonly tokens: EnrollmentTokensRepository,
    private readonly serverKeys: ServerKeysService,
    private readonly events: ClusterEventsService,
    private readonly audit: AuditService,
    private readonly labels: AgentEnvironments,
    private readonly logger: CorralLogger,
  ) {}

  /**
   * Records agents' health checks, in the caller's transaction; consoles following the agents
   * hear of it when that commits.
   */
  async recordHealth(em: EntityManager, checks: { organizationId: string; agentId: string; health: AgentHealth }[]): Promise<void> {
    if (!checks.length) return;
    await this.agents.recordHealth(em, checks);
    await this.events.publishAll(
      checks.map(({ agentId }) => ({ kind: 'agent-changed', agentId })),
      em,
    );
  }

  /** An agent asks to join: always lands pending, whatever the token says. */
  async enroll(request: EnrollRequest, ip: string): Promise<EnrollResponse> {
    try {
      publicKeyFromRaw(request.publicKey);
    } catch (err) {
      throw new AgentsException(AgentsErrorCode.INVALID_PUBLIC_KEY, (err as Error).message);
    }
    const agent = await this.dataSource.transaction(async (em) => {
      const token = await this.tokens.findByHashForUpdate(sha256Hex(request.token), em);
      if (!token) throw new AgentsException(AgentsErrorCode.ENROLLMENT_TOKEN_INVALID, 'this enrollment token is unknown; create one in the console (Enrollment tokens) and copy it exactly');
      if (token.revokedAt) throw new AgentsException(AgentsErrorCode.ENROLLMENT_TOKEN_REVOKED, 'this enrollment token was revoked; ask an admin for a new one');
      if (token.expiresAt.getTime() <= Date.now())
        throw new AgentsException(AgentsErrorCode.ENROLLMENT_TOKEN_EXPIRED, `this enrollment token expired at ${token.expiresAt.toISOString()}; ask an admin for a new one`);
      if (token.uses >= token.maxUses)
        throw new AgentsException(AgentsErrorCode.ENROLLMENT_TOKEN_USED_UP, `this enrollment token was already used ${token.uses} time(s), its limit; ask an admin for a new one`);
      const existing = await this.agents.findByPublicKey(request.publicKey, em);
      if (existing) throw new AgentsException(AgentsErrorCode.KEY_ALREADY_ENROLLED, `this key is already enrolled as agent ${existing.id}; use that identity, or enroll with a fresh state dir`);
      // A rebuilt host with a new key never silently replaces, nor is silently refused as, the old one.
      const namesake = await this.agents.findApprovedByName(token.organizationId, request.name, em);
      await this.tokens.countUse(token.id, em);
      const created = await this.agents.create(
        {
          organizationId: token.organizationId,
          name: request.name,
          hostname: request.hostname,
          os: request.os,
          arch: request.arch,
          agentVersion: request.agentVersion,
          publicKey: request.publicKey,
          fingerprint: fingerprintOf(request.publicKey),
          verificationCode: verificationCodeOf(request.publicKey),
          status: 'pending',
          enrollmentTokenId: token.id,
          conflictsWith: namesake?.id ?? null,
          environments: token.environments,
          roles: token.roles,
          policy: request.policy,
        },
        em,
      );
      await this.audit.recordAnonymous(
        {
          organizationId: token.organizationId,
          email: `agent ${request.name}`,
          action: 'agent.enrolled',
          ip,
          target: { type: 'agent', id: created.id },
          details: { fingerprint: created.fingerprint, hostname: request.hostname, enrollmentTokenId: token.id, conflictsWith: created.conflictsWith },
        },
        em,
      );
      return created;
    });
    await this.events.agentChanged(agent.id);
    return {
      agentId: agent.id,
      name: agent.name,
      fingerprint: agent.fingerprint,
      verificationCode: agent.verificationCode,
      status: 'pending',
      conflictsWith: agent.conflictsWith,
      serverKeys: this.serverKeys.publicKeys(),
    };
  }

  async list(actor: Actor, status?: AgentStatus) {
    const [items, counts] = await Promise.all([this.agents.listForOrganization(actor.organizationId, status), this.agents.countByStatus(actor.organizationId)]);
    return { items: items.map((a) => agentView(a)), counts };
  }

  async get(actor: Actor, id: string) {
    return agentView(await this.require(actor, id));
  }

  /** Approval is bound to the key: the admin must confirm the fingerprint or code the agent printed. */
  async approve(actor: Actor, id: string, body: ApproveAgentDto) {
    const agent = await this.require(actor, id);
    if (agent.status !== 'pending') throw new AgentsException(AgentsErrorCode.AGENT_NOT_PENDING, `agent "${agent.name}" is ${agent.status}, not pending; only a pending agent can be approved`);
    if (!body.fingerprint && !body.verificationCode) {
      throw new AgentsException(AgentsErrorCode.FINGERPRINT_MISMATCH, 'confirm the agent: send the fingerprint or the verification code that the agent printed on its server');
    }
    const matches = body.fingerprint ? body.fingerprint.trim() === agent.fingerprint : normalizeVerificationCode(body.verificationCode!) === agent.verificationCode;
    if (!matches) {
      await this.audit.record(actor, 'agent.approval_refused', { type: 'agent', id }, { reason: 'fingerprint mismatch', offered: body.fingerprint ?? body.verificationCode });
      throw new AgentsException(
        AgentsErrorCode.FINGERPRINT_MISMATCH,
        `the ${body.fingerprint ? 'fingerprint' : 'verification code'} does not match agent "${agent.name}"; compare it again with what the agent printed — a mismatch can mean someone else enrolled under this name`,
      );
    }
    const environments = await this.labels.names(actor.organizationId, body.environments);
    const retired = await this.dataSource.transaction(async (em) => {
      const ok = await this.agents.decide(actor.organizationId, id, ['pending'], 'approved', { ...this.decider(actor), reason: null, name: body.name, environments, roles: body.roles }, em);
      if (!ok) throw new AgentsException(AgentsErrorCode.AGENT_NOT_PENDING, `agent "${agent.name}" was decided by someone else meanwhile; reload it`);
      await this.audit.record(actor, 'agent.approved', { type: 'agent', id }, { fingerprint: agent.fingerprint, name: body.name ?? agent.name }, em);
      // Approving the new identity of a rebuilt host retires the old one, explicitly.
      if (agent.conflictsWith) {
        const replaced = await this.agents.decide(
          actor.organizationId,
          agent.conflictsWith,
          ['approved', 'pending'],
          'revoked',
          { ...this.decider(actor), reason: `replaced by agent ${id}` },
          em,
        );
        if (replaced) await this.audit.record(actor, 'agent.revoked', { type: 'agent', id: agent.conflictsWith }, { reason: `replaced by agent ${id}` }, em);
        return replaced ? agent.conflictsWith : null;
      }
      return null;
    });
    this.decided('approved', actor, agent);
    await this.events.agentChanged(id);
    if (retired) await this.events.agentChanged(retired);
    return this.get(actor, id);
  }

  /** An approved agent's environments and roles, as an admin changes them after approval. */
  async update(actor: Actor, id: string, body: UpdateAgentDto) {
    const agent = await this.require(actor, id);
    if (agent.status !== 'approved')
      throw new AgentsException(AgentsErrorCode.AGENT_NOT_APPROVED, `agent "${agent.name}" is ${agent.status}; only an approved agent's environments and roles can be changed`);
    const environments = await this.labels.names(actor.organizationId, body.environments);
    const changes = { ...(environments ? { environments } : {}), ...(body.roles ? { roles: [...new Set(body.roles)] } : {}) };
    await this.dataSource.transaction(async (em) => {
      await this.agents.updateLabels(em, actor.organizationId, id, changes);
      const from = { ...(environments ? { environments: agent.environments } : {}), ...(body.roles ? { roles: agent.roles } : {}) };
      await this.audit.record(actor, 'agent.updated', { type: 'agent', id }, { from, to: changes }, em);
    });
    await this.events.agentChanged(id);
    return this.get(actor, id);
  }

  async reject(actor: Actor, id: string, reason?: string) {
    return this.transition(actor, id, ['pending'], 'rejected', 'agent.rejected', reason);
  }

  async revoke(actor: Actor, id: string, reason?: string) {
    return this.transition(actor, id, ['approved', 'pending'], 'revoked', 'agent.revoked', reason);
  }

  async delete(actor: Actor, id: string): Promise<void> {
    const agent = await this.require(actor, id);
    if (!(await this.agents.delete(actor.organizationId, id))) throw new NotFoundException('agent', id);
    await this.audit.record(actor, 'agent.deleted', { type: 'agent', id }, { name: agent.name, fingerprint: agent.fingerprint, status: agent.status });
    await this.events.agentChanged(id);
  }

  private async transition(actor: Actor, id: string, from: AgentStatus[], to: AgentStatus, action: string, reason?: string) {
    const agent = await this.require(actor, id);
    await this.dataSource.transaction(async (em) => {
      if (!(await this.agents.decide(actor.organizationId, id, from, to, { ...this.decider(actor), reason: reason ?? null }, em))) {
        throw new AgentsException(AgentsErrorCode.AGENT_NOT_PENDING, `agent "${agent.name}" is ${agent.status}; it cannot become ${to} (allowed from ${from.join(' or ')})`);
      }
      await this.audit.record(actor, action, { type: 'agent', id }, { fingerprint: agent.fingerprint, reason: reason ?? null }, em);
    });
    this.decided(to, actor, agent, reason);
    await this.events.agentChanged(id);
    return this.get(actor, id);
  }

  /** An operator's log line for each decision, once it is committed (the audit trail has it too). */
  private decided(status: AgentStatus, actor: Actor, agent: Agent, reason?: string) {
    const fields = { agentId: agent.id, name: agent.name, organizationId: actor.organizationId, by: actorLabel(actor), ...(reason ? { reason } : {}) };
    this.logger.event('info', `agent ${status}`, fields, 'Agents');
  }

  private decider(actor: Actor) {
    return { decidedBy: actor.userId, decidedByLabel: actor.email };
  }

  private async require(actor: Actor, id: string): Promise<Agent> {
    const agent = await this.agents.findInOrganization(actor.organizationId, id);
    if (!agent) throw new NotFoundException('agent', id);
    return agent;
  }
}
