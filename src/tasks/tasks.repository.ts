import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { NewAuditEvent } from '../audit/audit.repository';
import { Batcher } from '../database/batcher';
import { Sql } from '../database/sql';
import { rowsOf } from '../database/query-rows';
import type { Role } from '../orgs/roles';
import { Job } from './job.entity';
import { deriveTaskState, isFinishedTask, type TaskState } from './task-states';
import { Task } from './task.entity';

export interface TaskFilter {
  state?: TaskState;
  agentId?: string;
  /** Tasks with a job running on an agent connected to this node. */
  nodeId?: string;
  before?: string;
  limit: number;
}

export interface JobWithAgent extends Job {
  agentName: string;
}

/** A task made in one statement, with its jobs: queued, or already offered. */
export interface CreatedTask {
  id: string;
  createdAt: Date;
  jobs: { id: string; agentId: string; state: 'queued' | 'offered'; createdAt: string }[];
}

/** What a change to a task's jobs did to the task. */
export interface TaskChange {
  state: TaskState;
  changed: boolean;
  finished: boolean;
  /** Tasks that were waiting behind this one on its concurrency key and may run now. */
  released: string[];
}

const LONE_SURROGATE = /\p{Surrogate}/gu;

/** An API key the statement checks as it creates the task: unrevoked, of the task's organisation and creator, and with one of `roles` by its own role and its creator's. */
export interface KeyCheck {
  apiKeyId: string;
  roles: Role[];
}

interface NewTask {
  task: Omit<Task, 'id' | 'createdAt' | 'organization'>;
  agentIds: string[];
  audit: NewAuditEvent;
  announce: { channel: string; from: string; agentIds: string[] };
  offer: { agentIds: string[]; maxJobs: number[]; nodeId: string; offerSeconds: number };
  key: KeyCheck | null;
}

@Injectable()
export class TasksRepository {
  private readonly creations = new Batcher<NewTask, CreatedTask | undefined>((batch) => this.createBatch(batch), { maxBatch: 200, concurrency: 2 });

  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  async create(em: EntityManager, task: Partial<Task>, agentIds: string[], ready: boolean): Promise<{ task: Task; jobs: Job[] }> {
    const saved = await em.save(Task, em.create(Task, task));
    const jobs = await em.save(
      Job,
      agentIds.map((agentId) => em.create(Job, { taskId: saved.id, organizationId: saved.organizationId, agentId, state: 'queued', ready, queuedAt: ready ? new Date() : null })),
    );
    return { task: saved, jobs };
  }

  /**
   * A task without a concurrency key, its jobs (claimable at once), its audit event and the
   * wake-up for `announce.agentIds` (saying which node announced it; none, no notification);
   * nothing at all (undefined) unless every target is an approved agent of the organisation and
   * `key`, if given, passes its check. The job of an agent in `offer` (it is on a WebSocket of
   * this node) with room for it is offered to it right here, by `offer.nodeId`, instead of waiting
   * for a claim. Tasks created at the same moment go to the database together, in one statement.
   */
  createAtOnce(
    task: Omit<Task, 'id' | 'createdAt' | 'organization'>,
    agentIds: string[],
    audit: NewAuditEvent,
    announce: { channel: string; from: string; agentIds: string[] },
    offer: { agentIds: string[]; maxJobs: number[]; nodeId: string; offerSeconds: number },
    key: KeyCheck | null,
  ): Promise<CreatedTask | undefined> {
    return this.creations.submit({ task, agentIds, audit, announce, offer, key });
  }

  private async createBatch(batch: NewTask[]): Promise<(CreatedTask | undefined)[]> {
    // One channel, node and offer time per node; the rows differ in everything else.
    const { channel, from } = batch[0].announce;
    const { nodeId, offerSeconds } = batch[0].offer;
    const rows = batch.map(({ task, agentIds, audit, announce, offer, key }, n) => ({
      n,
      organization_id: task.organizationId,
      name: task.name,
      kind: task.kind,
      script_syntax: task.scriptSyntax,
      script_body: task.scriptBody,
      timeout_seconds: task.timeoutSeconds,
      idempotent: task.idempotent,
      max_attempts: task.maxAttempts,
      sensitive_values: task.sensitiveValues,
      created_by: task.createdBy,
      created_by_label: task.createdByLabel,
      agent_ids: agentIds,
      here: offer.agentIds,
      here_max_jobs: offer.maxJobs,
      notify: announce.agentIds,
      actor_type: audit.actorType,
      actor_id: audit.actorId,
      actor_label: audit.actorLabel,
      action: audit.action,
      ip: audit.ip,
      details: audit.details,
      api_key_id: key?.apiKeyId ?? null,
      api_key_roles: key?.roles ?? null,
    }));
    const created = await this.sql.query<CreatedTask & { n: number }>(
      'corral_create_tasks',
      `WITH x AS MATERIALIZED (
         SELECT gen_random_uuid() AS id, x.* FROM jsonb_to_recordset($1::jsonb) AS x(
           n int, organization_id uuid, name text, kind text, script_syntax text, script_body text, timeout_seconds int, idempotent boolean,
           max_attempts int, sensitive_values text[], created_by uuid, created_by_label text, agent_ids uuid[], here uuid[], here_max_jobs int[],
           notify text[], actor_type text, actor_id text, actor_label text, action text, ip text, details jsonb, api_key_id uuid, api_key_roles text[])
          WHERE (SELECT count(*) FROM agents a WHERE a.organization_id = x.organization_id AND a.id = ANY (x.agent_ids) AND a.status = 'approved') = cardinality(x.agent_ids)
            AND (x.api_key_id IS NULL OR EXISTS (
                  SELECT FROM api_keys k JOIN memberships m ON m.user_id = k.created_by AND m.organization_id = k.organization_id
                   WHERE k.id = x.api_key_id AND k.organization_id = x.organization_id AND k.created_by = x.created_by AND k.revoked_at IS NULL
                     AND k.role = ANY (x.api_key_roles) AND m.role = ANY (x.api_key_roles)))
       ), t AS (
         INSERT INTO tasks (id, organization_id, name, kind, state, script_syntax, script_body, timeout_seconds, idempotent, max_attempts, sensitive_values, created_by, created_by_label)
         SELECT id, organization_id, name, kind, 'queued', script_syntax, script_body, timeout_seconds, idempotent, max_attempts, sensitive_values, created_by, created_by_label
           FROM x ORDER BY n
         RETURNING id, created_at
       ), target AS (
         -- An agent here is offered as many of these jobs as it has room for, earliest task first.
         SELECT x.id AS task_id, x.organization_id, a.agent_id, x.n, a.i,
                h.max_jobs IS NOT NULL
                  AND h.max_jobs - (SELECT count(*) FROM jobs b WHERE b.agent_id = a.agent_id AND b.lease_expires_at IS NOT NULL)
                      >= row_number() OVER (PARTITION BY a.agent_id, h.max_jobs IS NOT NULL ORDER BY x.n) AS offer
           FROM x CROSS JOIN LATERAL unnest(x.agent_ids) WITH ORDINALITY AS a(agent_id, i)
           LEFT JOIN LATERAL (SELECT h.max_jobs FROM unnest(x.here, x.here_max_jobs) AS h(agent_id, max_jobs) WHERE h.agent_id = a.agent_id LIMIT 1) h ON true
       ), j AS (
         INSERT INTO jobs (task_id, organization_id, agent_id, state, ready, queued_at, offered_at, offered_by_node, lease_expires_at)
         SELECT task_id, organization_id, agent_id, CASE WHEN offer THEN 'offered' ELSE 'queued' END, true, now(),
                CASE WHEN offer THEN now() END, CASE WHEN offer THEN $3 END, CASE WHEN offer THEN now() + make_interval(secs => $4) END
           FROM target ORDER BY n, i
         RETURNING id, task_id, agent_id, state, created_at
       ), e AS (
         INSERT INTO audit_events (organization_id, actor_type, actor_id, actor_label, action, target_type, target_id, ip, details)
         SELECT organization_id, actor_type, actor_id, actor_label, action, 'task', id::text, ip, details FROM x ORDER BY n
       ), wake AS (
         SELECT pg_notify($2, json_build_object('kind', 'jobs-ready', 'agentIds', array_agg(DISTINCT a), 'from', $5::text)::text)
           FROM x CROSS JOIN LATERAL unnest(x.notify) AS a
         HAVING count(*) > 0
       )
       SELECT x.n, t.id, t.created_at AS "createdAt",
              (SELECT json_agg(json_build_object('id', j.id, 'agentId', j.agent_id, 'state', j.state, 'createdAt', j.created_at) ORDER BY j.created_at, tg.i)
                 FROM j JOIN target tg ON tg.task_id = j.task_id AND tg.agent_id = j.agent_id WHERE j.task_id = t.id) AS jobs
         FROM t JOIN x ON x.id = t.id CROSS JOIN (SELECT count(*) FROM wake) AS woken`,
      // As a text parameter would be, a lone surrogate is stored as U+FFFD (jsonb refuses one).
      [JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'string' ? value.replace(LONE_SURROGATE, '\uFFFD') : value)), channel, nodeId, offerSeconds, from],
    );
    const byRow = new Map(created.map(({ n, ...task }) => [n, task]));
    return batch.map((_, n) => byRow.get(n));
  }

  /** Serialises everything that touches one concurrency key of one organisation, until the transaction ends. */
  async lockConcurrencyKey(em: EntityManager, organizationId: string, key: string): Promise<void> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, [organizationId, key]);
  }

  /** The last unfinished task in line on a concurrency key: a new task waits behind it. */
  async findLastInLine(em: EntityManager, organizationId: string, key: string): Promise<Task | null> {
    return em
      .getRepository(Task)
      .createQueryBuilder('t')
      .where(`t.organization_id = :organizationId AND t.concurrency_key = :key AND t.state IN ('queued', 'running', 'cancelling')`, { organizationId, key })
      .orderBy('t.created_at', 'DESC')
      .addOrderBy('t.id', 'DESC')
      .getOne();
  }

  lockInOrganization(em: EntityManager, organizationId: string, id: string): Promise<Task | null> {
    return em.getRepository(Task).createQueryBuilder('t').setLock('pessimistic_write').where('t.organization_id = :organizationId AND t.id = :id', { organizationId, id }).getOne();
  }

  findInOrganization(organizationId: string, id: string): Promise<Task | null> {
    return this.dataSource.manager.findOne(Task, { where: { organizationId, id } });
  }

  async stateOf(id: string): Promise<TaskState | undefined> {
    const [row] = await this.dataSource.query<{ state: TaskState }[]>(`SELECT state FROM tasks WHERE id = $1`, [id]);
    return row?.state;
  }

  findNames(organizationId: string, ids: string[]): Promise<Pick<Task, 'id' | 'name' | 'state'>[]> {
    if (!ids.length) return Promise.resolve([]);
    return this.dataSource.query(`SELECT id, name, state FROM tasks WHERE organization_id = $1 AND id = ANY($2::uuid[])`, [organizationId, ids]);
  }

  /** Newest first; `before` (a task id) pages backwards. */
  async listForOrganization(organizationId: string, filter: TaskFilter): Promise<Task[]> {
    const q = this.dataSource.getRepository(Task).createQueryBuilder('t').where('t.organization_id = :organizationId', { organizationId });
    if (filter.state) q.andWhere('t.state = :state', { state: filter.state });
    if (filter.agentId) q.andWhere('EXISTS (SELECT 1 FROM jobs j WHERE j.task_id = t.id AND j.agent_id = :agentId)', { agentId: filter.agentId });
    if (filter.nodeId)
      q.andWhere(`EXISTS (SELECT 1 FROM jobs j JOIN agents a ON a.id = j.agent_id WHERE j.task_id = t.id AND j.state = 'running' AND a.connected_node_id = :nodeId)`, { nodeId: filter.nodeId });
    if (filter.before)
      q.andWhere('(t.created_at, t.id) < (SELECT b.created_at, b.id FROM tasks b WHERE b.id = :before AND b.organization_id = :organizationId)', { before: filter.before });
    return q.orderBy('t.created_at', 'DESC').addOrderBy('t.id', 'DESC').limit(filter.limit).getMany();
  }

  async jobsOfTasks(taskIds: string[]): Promise<JobWithAgent[]> {
    if (!taskIds.length) return [];
    const rows = await this.dataSource
      .getRepository(Job)
      .createQueryBuilder('j')
      .innerJoin('j.agent', 'a')
      .addSelect('a.name', 'agent_name')
      .where('j.task_id IN (:...taskIds)', { taskIds })
      .orderBy('j.created_at')
      .addOrderBy('j.id')
      .getRawAndEntities();
    return rows.entities.map((job, i) => Object.assign(job, { agentName: (rows.raw[i] as { agent_name: string }).agent_name }));
  }

  async markCancelRequested(em: EntityManager, id: string, by: string): Promise<void> {
    await em.query(`UPDATE tasks SET cancel_requested_at = COALESCE(cancel_requested_at, now()), cancel_requested_by = COALESCE(cancel_requested_by, $2) WHERE id = $1`, [id, by]);
  }

  /**
   * Brings the task's state in line with its jobs', under the task's row lock (held by the
   * caller's transaction). A finished task never becomes active again; when it finishes, its
   * sensitive values are erased and the task waiting behind it is released.
   */
  async recompute(em: EntityManager, taskId: string): Promise<TaskChange> {
    const [task] = await em.query<{ state: TaskState; cancelRequested: boolean; blockedBy: string | null; keyed: boolean; states: Job['state'][] }[]>(
      `SELECT t.state, t.cancel_requested_at IS NOT NULL AS "cancelRequested", t.blocked_by AS "blockedBy", t.concurrency_key IS NOT NULL AS keyed,
              ARRAY(SELECT state FROM jobs WHERE task_id = t.id) AS states
         FROM tasks t WHERE t.id = $1 FOR UPDATE OF t`,
      [taskId],
    );
    const derived = deriveTaskState(task.states, task.cancelRequested);
    const wasFinished = isFinishedTask(task.state);
    if (derived === task.state || (wasFinished && !isFinishedTask(derived))) return { state: task.state, changed: false, finished: wasFinished, released: [] };

    const finished = isFinishedTask(derived);
    await em.query(
      `UPDATE tasks SET state = $2,
              started_at = CASE WHEN $2 IN ('running', 'cancelling') THEN COALESCE(started_at, now()) ELSE started_at END,
              finished_at = CASE WHEN $3 THEN COALESCE(finished_at, now()) ELSE finished_at END,
              sensitive_values = CASE WHEN $3 THEN '{}' ELSE sensitive_values END
        WHERE id = $1`,
      [taskId, derived, finished],
    );
    let released: string[] = [];
    if (finished && !wasFinished && task.keyed) {
      // The task behind this one now waits for whatever this one waited for, or for nothing.
      const rows = await em.query(`UPDATE tasks SET blocked_by = $2 WHERE blocked_by = $1 RETURNING id`, [taskId, task.blockedBy]);
      if (!task.blockedBy) released = rowsOf<{ id: string }>(rows).map((r) => r.id);
      await em.query(`UPDATE tasks SET blocked_by = NULL WHERE id = $1`, [taskId]);
    }
    return { state: derived, changed: true, finished, released };
  }
}
