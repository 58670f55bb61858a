import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { AgentStatus, LocalPolicy, Transport } from '../protocol/messages';
import { Agent } from './agent.entity';

@Injectable()
export class AgentsRepository {
  constructor(private readonly dataSource: DataSource) {}

  create(input: Partial<Agent>, em: EntityManager): Promise<Agent> {
    return em.save(Agent, em.create(Agent, input));
  }

  findByPublicKey(publicKey: string, em: EntityManager = this.dataSource.manager): Promise<Agent | null> {
    return em.findOne(Agent, { where: { publicKey } });
  }

  /** Any organisation: only for authenticating the agent itself, whose signature names it. */
  findForAuthentication(id: string): Promise<Agent | null> {
    return this.dataSource.manager.findOne(Agent, { where: { id } });
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Agent | null> {
    return em.findOne(Agent, { where: { organizationId, id } });
  }

  findApprovedByName(organizationId: string, name: string, em: EntityManager): Promise<Agent | null> {
    return em.findOne(Agent, { where: { organizationId, name, status: 'approved' } });
  }

  /** The named agents of the organisation that exist, with what decides whether they may run work. */
  findTargets(organizationId: string, ids: string[]): Promise<Pick<Agent, 'id' | 'name' | 'status' | 'policy'>[]> {
    return this.dataSource.query(`SELECT id, name, status, policy FROM agents WHERE organization_id = $1 AND id = ANY($2::uuid[])`, [organizationId, ids]);
  }

  listForOrganization(organizationId: string, status?: AgentStatus): Promise<Agent[]> {
    return this.dataSource.manager.find(Agent, { where: { organizationId, ...(status ? { status } : {}) }, order: { enrolledAt: 'DESC' } });
  }

  async countByStatus(organizationId: string): Promise<Record<AgentStatus, number>> {
    const rows = await this.dataSource.query<{ status: AgentStatus; n: string }[]>(`SELECT status, count(*) AS n FROM agents WHERE organization_id = $1 GROUP BY status`, [organizationId]);
    const counts: Record<AgentStatus, number> = { pending: 0, approved: 0, rejected: 0, revoked: 0 };
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  /** Moves an agent between statuses only from the expected one, so racing decisions lose cleanly. */
  async decide(
    organizationId: string,
    id: string,
    from: AgentStatus[],
    to: AgentStatus,
    decision: { decidedBy: string; decidedByLabel: string; reason: string | null; name?: string; environments?: string[]; roles?: string[] },
    em: EntityManager,
  ): Promise<boolean> {
    const result = await em
      .createQueryBuilder()
      .update(Agent)
      .set({
        status: to,
        decidedBy: decision.decidedBy,
        decidedByLabel: decision.decidedByLabel,
        decidedAt: () => 'now()',
        decisionReason: decision.reason,
        ...(decision.name ? { name: decision.name } : {}),
        ...(decision.environments ? { environments: decision.environments } : {}),
        ...(decision.roles ? { roles: decision.roles } : {}),
      })
      .where('organization_id = :organizationId AND id = :id AND status IN (:...from)', { organizationId, id, from })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  async delete(organizationId: string, id: string): Promise<boolean> {
    const result = await this.dataSource.manager.delete(Agent, { organizationId, id });
    return (result.affected ?? 0) > 0;
  }

  async markConnected(id: string, nodeId: string, transport: Transport, facts: { hostname: string; os: string; arch: string; agentVersion: string; policy: LocalPolicy | null }): Promise<void> {
    await this.dataSource.manager.update(Agent, { id }, { connectedNodeId: nodeId, transport, lastSeenAt: () => 'now()', lastError: null, ...facts });
  }

  /** Only the node that holds the connection may mark it gone: a newer connection elsewhere wins. */
  async markDisconnected(id: string, nodeId: string, lastError: string | null): Promise<void> {
    await this.dataSource.query(`UPDATE agents SET connected_node_id = NULL, last_seen_at = now(), last_error = COALESCE($3, last_error) WHERE id = $1 AND connected_node_id = $2`, [id, nodeId, lastError]);
  }

  /** One statement refreshes every agent this node holds: presence costs O(1) queries per node. */
  async touchConnected(nodeId: string, ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.dataSource.query(`UPDATE agents SET last_seen_at = now(), connected_node_id = $1 WHERE id = ANY($2::uuid[])`, [nodeId, ids]);
  }

  async recordError(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE agents SET last_error = $2 WHERE id = $1`, [id, error]);
  }

  async clearNodeConnections(nodeId: string): Promise<void> {
    await this.dataSource.query(`UPDATE agents SET connected_node_id = NULL WHERE connected_node_id = $1`, [nodeId]);
  }
}
