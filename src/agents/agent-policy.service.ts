import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { CorralLogger } from '../common/logger';
import type { LocalPolicy, Transport } from '../protocol/messages';
import type { ConnectedAgent } from './agent-session';
import { AgentsRepository } from './agents.repository';

/**
 * The local policies agents report while connected (`agent.policy`: the host's sysadmin edited
 * the file). The stored policy is what the API shows and what work is judged by before it is
 * queued, so the next task for the agent already follows the new one; the change is audited as
 * the agent's own act and announced to consoles like any other change to an agent.
 */
@Injectable()
export class AgentPolicyReports {
  constructor(
    private readonly dataSource: DataSource,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditService,
    private readonly events: ClusterEventsService,
    private readonly logger: CorralLogger,
  ) {}

  /** Records the policy the agent reported; a report of the policy already stored changes nothing. */
  async reported(agent: ConnectedAgent, policy: LocalPolicy, transport: Transport): Promise<void> {
    const changed = await this.dataSource.transaction(async (em) => {
      const replaced = await this.agents.replacePolicy(em, agent.organizationId, agent.id, policy);
      if (!replaced) return false;
      await this.audit.recordEvent(
        {
          organizationId: agent.organizationId,
          actorType: 'agent',
          actorId: agent.id,
          actorLabel: `agent ${agent.name}`,
          action: 'agent.policy_changed',
          targetType: 'agent',
          targetId: agent.id,
          ip: null,
          details: { source: policy.source, from: replaced.previous, to: policy, transport },
        },
        em,
      );
      return true;
    });
    if (!changed) return;
    this.logger.event(
      policy.error ? 'warn' : 'info',
      policy.error ? 'agent reported a local policy it cannot use: it refuses all work' : 'agent reported a new local policy',
      { agentId: agent.id, source: policy.source, frozen: policy.frozen, ...(policy.error ? { error: policy.error } : {}) },
      'AgentPolicy',
    );
    await this.events.agentChanged(agent.id);
  }
}
