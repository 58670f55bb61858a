import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { rowsOf } from '../database/query-rows';

export interface NodeRow {
  id: string;
  address: string;
  pid: number;
  startedAt: Date;
  lastSeenAt: Date;
  draining: boolean;
  stoppedAt: Date | null;
  secondsSilent: number;
  connectedAgents: number;
  runningJobs: number;
}

// Nodes that stopped or died this long ago are forgotten.
const FORGET_AFTER = '1 day';

@Injectable()
export class NodesRepository {
  constructor(private readonly dataSource: DataSource) {}

  async register(id: string, address: string, pid: number): Promise<void> {
    await this.dataSource.query(`INSERT INTO server_nodes (id, address, pid) VALUES ($1, $2, $3)`, [id, address, pid]);
  }

  /**
   * Records that the node is alive, in one statement with the cluster's housekeeping: agents
   * connected to a node that is not (stopped, or silent for `deadAfterSeconds`) are released, so
   * they show offline, and nodes gone for a day are forgotten. Returns whether this node was asked
   * to drain, and the peers presumed dead (silent, never stopped).
   */
  async heartbeat(id: string, deadAfterSeconds: number): Promise<{ draining: boolean; silent: string[] }> {
    const [row] = await this.dataSource.query<{ draining: boolean; silent: string[] }[]>(
      `WITH beat AS (
         UPDATE server_nodes SET last_seen_at = now() WHERE id = $1 RETURNING draining
       ), gone AS (
         SELECT id, stopped_at FROM server_nodes WHERE id <> $1 AND (stopped_at IS NOT NULL OR last_seen_at < now() - make_interval(secs => $2))
       ), released AS (
         UPDATE agents SET connected_node_id = NULL WHERE connected_node_id IN (SELECT id FROM gone) RETURNING 1
       ), forgotten AS (
         DELETE FROM server_nodes WHERE COALESCE(stopped_at, last_seen_at) < now() - interval '${FORGET_AFTER}' RETURNING 1
       )
       SELECT draining, ARRAY(SELECT id FROM gone WHERE stopped_at IS NULL ORDER BY id) AS silent FROM beat`,
      [id, deadAfterSeconds],
    );
    return { draining: row?.draining ?? false, silent: row?.silent ?? [] };
  }

  async setAddress(id: string, address: string): Promise<void> {
    await this.dataSource.query(`UPDATE server_nodes SET address = $2 WHERE id = $1`, [id, address]);
  }

  async markStopped(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE server_nodes SET stopped_at = now(), last_seen_at = now() WHERE id = $1`, [id]);
  }

  async setDraining(id: string, draining: boolean): Promise<boolean> {
    return rowsOf(await this.dataSource.query(`UPDATE server_nodes SET draining = $2 WHERE id = $1 AND stopped_at IS NULL RETURNING id`, [id, draining])).length > 0;
  }

  /**
   * Every node, with the organisation's agents and running jobs on each (nothing of other
   * organisations); with null, every organisation's together, for platform operators.
   */
  list(organizationId: string | null): Promise<NodeRow[]> {
    return this.dataSource.query(
      `SELECT n.id, n.address, n.pid, n.started_at AS "startedAt", n.last_seen_at AS "lastSeenAt", n.draining, n.stopped_at AS "stoppedAt",
              EXTRACT(EPOCH FROM now() - n.last_seen_at)::float8 AS "secondsSilent",
              (SELECT count(*)::int FROM agents a WHERE ($1::uuid IS NULL OR a.organization_id = $1) AND a.connected_node_id = n.id) AS "connectedAgents",
              (SELECT count(*)::int FROM jobs j JOIN agents a ON a.id = j.agent_id
                WHERE ($1::uuid IS NULL OR j.organization_id = $1) AND j.lease_expires_at IS NOT NULL AND j.state = 'running' AND a.connected_node_id = n.id) AS "runningJobs"
         FROM server_nodes n ORDER BY n.started_at DESC`,
      [organizationId],
    );
  }

  /** Each organisation's connected agents and running jobs on each node (only where it has some), for platform operators. */
  workByOrganization(): Promise<{ nodeId: string; organizationId: string; name: string; connectedAgents: number; runningJobs: number }[]> {
    return this.dataSource.query(
      `WITH agents_here AS (
         SELECT connected_node_id AS node_id, organization_id, count(*)::int AS n FROM agents WHERE connected_node_id IS NOT NULL GROUP BY 1, 2
       ), running_here AS (
         SELECT a.connected_node_id AS node_id, j.organization_id, count(*)::int AS n
           FROM jobs j JOIN agents a ON a.id = j.agent_id
          WHERE j.lease_expires_at IS NOT NULL AND j.state = 'running' AND a.connected_node_id IS NOT NULL GROUP BY 1, 2
       )
       SELECT w.node_id AS "nodeId", w.organization_id AS "organizationId", o.name,
              COALESCE(ah.n, 0) AS "connectedAgents", COALESCE(rh.n, 0) AS "runningJobs"
         FROM (SELECT node_id, organization_id FROM agents_here UNION SELECT node_id, organization_id FROM running_here) w
         JOIN organizations o ON o.id = w.organization_id
         LEFT JOIN agents_here ah ON ah.node_id = w.node_id AND ah.organization_id = w.organization_id
         LEFT JOIN running_here rh ON rh.node_id = w.node_id AND rh.organization_id = w.organization_id
        ORDER BY o.name, w.organization_id`,
    );
  }

  async exists(id: string): Promise<boolean> {
    return (await this.dataSource.query(`SELECT 1 FROM server_nodes WHERE id = $1`, [id])).length > 0;
  }
}
