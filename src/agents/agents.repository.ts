import { Injectable } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { AgentHealth } from './agent-health.view';
import { DataSource, type EntityManager } from 'typeorm';
import { Sql } from '../database/sql';
import type { AgentStatus, LocalPolicy, Transport } from '../protocol/messages';
import { Agent } from './agent.entity';

/** What decides whether an agent may connect, and what it is told about itself. */
export type AgentStanding = Pick<Agent, 'id' | 'organizationId' | 'name' | 'status' | 'publicKey' | 'decidedByLabel' | 'decisionReason'>;

/** What a connecting agent says about its host. */
export interface HostFacts {
  hostname: string;
  os: string;
  arch: string;
  agentVersion: string;
  policy: LocalPolicy | null;
}

export interface Connected extends HostFacts {
  id: string;
  nodeId: string;
  transport: Transport;
}

/** One use of a signed request's nonce, remembered until the clock window has passed. */
export interface Nonce {
  signer: string;
  nonce: string;
  expiresAt: Date;
}

const STANDING = `id, organization_id AS "organizationId", name, status, public_key AS "publicKey", decided_by_label AS "decidedByLabel", decision_reason AS "decisionReason"`;

@Injectable()
export class AgentsRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  /** Any organisation: only for agents authenticating themselves (their signature names them), many at once. */
  findStandings(ids: string[]): Promise<AgentStanding[]> {
    return this.sql.query<AgentStanding>('corral_agent_standings', `SELECT ${STANDING} FROM agents WHERE id = ANY ($1::uuid[])`, [ids]);
  }

  /**
   * Records that these agents connected to a node (and what their hosts are now), in one
   * statement, and returns their standing as it is at that moment: a decision that landed while
   * they were connecting is seen here.
   */
  markConnectedMany(rows: Connected[]): Promise<AgentStanding[]> {
    return this.sql.query<AgentStanding>(
      'corral_agents_connected',
      `UPDATE agents SET connected_node_id = r.node_id, transport = r.transport, last_seen_at = now(), last_error = NULL,
              hostname = r.hostname, os = r.os, arch = r.arch, agent_version = r.agent_version, policy = r.policy
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
           AS r(id, node_id, transport, hostname, os, arch, agent_version, policy)
        WHERE agents.id = r.id
       RETURNING agents.id, agents.organization_id AS "organizationId", agents.name, agents.status, agents.public_key AS "publicKey",
                 agents.decided_by_label AS "decidedByLabel", agents.decision_reason AS "decisionReason"`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.nodeId),
        rows.map((r) => r.transport),
        rows.map((r) => r.hostname),
        rows.map((r) => r.os),
        rows.map((r) => r.arch),
        rows.map((r) => r.agentVersion),
        rows.map((r) => (r.policy ? JSON.stringify(r.policy) : null)),
      ],
      'lazy',
    );
  }

  /**
   * Stores the local policy an agent reported, when it differs from the stored one (jsonb
   * equality: key order does not matter). Returns the policy it replaced, or undefined when
   * nothing changed (or the agent is gone).
   */
  async replacePolicy(em: EntityManager, organizationId: string, id: string, policy: LocalPolicy): Promise<{ previous: LocalPolicy | null } | undefined> {
    const rows: { previous: LocalPolicy | null }[] = await em.query(
      `WITH old AS (SELECT id, policy FROM agents WHERE id = $1 AND organization_id = $3 FOR UPDATE),
            replaced AS (
              UPDATE agents SET policy = $2::jsonb FROM old
               WHERE agents.id = old.id AND old.policy IS DISTINCT FROM $2::jsonb
              RETURNING old.policy AS previous
            )
       SELECT previous FROM replaced`,
      [id, JSON.stringify(policy), organizationId],
    );
    return rows[0];
  }

  create(input: Partial<Agent>, em: EntityManager): Promise<Agent> {
    return em.save(Agent, em.create(Agent, input));
  }

  findByPublicKey(publicKey: string, em: EntityManager = this.dataSource.manager): Promise<Agent | null> {
    return em.findOne(Agent, { where: { publicKey } });
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Agent | null> {
    return em.findOne(Agent, { where: { organizationId, id } });
  }

  findApprovedByName(organizationId: string, name: string, em: EntityManager): Promise<Agent | null> {
    return em.findOne(Agent, { where: { organizationId, name, status: 'approved' } });
  }

  /**
   * The named agents of the organisation that exist, with what decides whether they may run work.
   * Inside a transaction, on its connection: waiting for a second one from the pool while holding
   * one deadlocks the pool once every connection is held so.
   */
  findTargets(organizationId: string, ids: string[], em?: EntityManager): Promise<Pick<Agent, 'id' | 'name' | 'status' | 'policy'>[]> {
    const sql = `SELECT id, name, status, policy FROM agents WHERE organization_id = $1 AND id = ANY ($2::uuid[])`;
    return em ? em.query(sql, [organizationId, ids]) : this.sql.query('corral_task_targets', sql, [organizationId, ids]);
  }

  /** The organisation's agents named by these ids or names (any status). */
  findByIdsOrNames(em: EntityManager, organizationId: string, refs: string[]): Promise<Pick<Agent, 'id' | 'name' | 'roles'>[]> {
    const ids = refs.filter((r) => isUUID(r));
    return em.query(`SELECT id, name, roles FROM agents WHERE organization_id = $1 AND (id = ANY ($2::uuid[]) OR name = ANY ($3::text[]))`, [organizationId, ids, refs]);
  }

  /** Approved agents in an environment (by its name), with their roles and what decides whether they may run work: a deployment's candidates. */
  approvedInEnvironment(em: EntityManager, organizationId: string, environment: string): Promise<Pick<Agent, 'id' | 'name' | 'roles' | 'policy'>[]> {
    return em.query(`SELECT id, name, roles, policy FROM agents WHERE organization_id = $1 AND status = 'approved' AND $2 = ANY (environments) ORDER BY name`, [organizationId, environment]);
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

  async updateLabels(em: EntityManager, organizationId: string, id: string, changes: Partial<Pick<Agent, 'environments' | 'roles'>>): Promise<void> {
    if (Object.keys(changes).length) await em.update(Agent, { organizationId, id }, changes);
  }

  async delete(organizationId: string, id: string): Promise<boolean> {
    const result = await this.dataSource.manager.delete(Agent, { organizationId, id });
    return (result.affected ?? 0) > 0;
  }

  /** Only the node that holds the connection may mark it gone: a newer connection elsewhere wins. */
  async markDisconnected(ids: string[], nodeId: string): Promise<void> {
    await this.sql.query(
      'corral_agents_disconnected',
      `UPDATE agents SET connected_node_id = NULL, last_seen_at = now() WHERE id = ANY ($1::uuid[]) AND connected_node_id = $2`,
      [ids, nodeId],
      'lazy',
    );
  }

  /** Remembers these nonces; returns the ones that were new (a replayed one is already there). */
  insertNonces(nonces: Nonce[]): Promise<Pick<Nonce, 'signer' | 'nonce'>[]> {
    return this.sql.query(
      'corral_insert_nonces',
      `INSERT INTO agent_nonces (signer, nonce, expires_at) SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING RETURNING signer, nonce`,
      [nonces.map((n) => n.signer), nonces.map((n) => n.nonce), nonces.map((n) => n.expiresAt)],
    );
  }

  async pruneNonces(): Promise<void> {
    await this.dataSource.query(`DELETE FROM agent_nonces WHERE expires_at < now()`);
  }

  async recordHealth(em: EntityManager, checks: { organizationId: string; agentId: string; health: AgentHealth }[]): Promise<void> {
    await em.query(
      `UPDATE agents SET health = c.health FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS c(organization_id, id, health)
        WHERE agents.organization_id = c.organization_id AND agents.id = c.id`,
      [checks.map((c) => c.organizationId), checks.map((c) => c.agentId), checks.map((c) => JSON.stringify(c.health))],
    );
  }

  async recordError(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE agents SET last_error = $2 WHERE id = $1`, [id, error]);
  }

  async clearNodeConnections(nodeId: string): Promise<void> {
    await this.dataSource.query(`UPDATE agents SET connected_node_id = NULL WHERE connected_node_id = $1`, [nodeId]);
  }

  /** Every organisation's agents by status, and how many of each are connected to a node: cluster-wide metrics. */
  countAllByStatus(): Promise<{ status: string; n: number; connected: number }[]> {
    return this.dataSource.query(`SELECT status, count(*)::int AS n, count(connected_node_id)::int AS connected FROM agents GROUP BY status`);
  }
}
