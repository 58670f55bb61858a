import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { rowsOf } from '../database/query-rows';
import { composeParts, Sql, type SqlPart } from '../database/sql';
import { Job } from './job.entity';
import { type TaskState, taskEdges } from './task-states';
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

/** A task to insert, with its jobs. */
export interface TaskRow {
  organizationId: string;
  name: string;
  kind: string;
  spec: Record<string, unknown>;
  timeoutSeconds: number;
  concurrencyKey: string | null;
  /** The task ahead of this one on its concurrency key; its jobs wait (not ready) until it ends. */
  blockedBy: string | null;
  idempotent: boolean;
  maxAttempts: number;
  parentTaskId: string | null;
  /** Its kind's module holds it open (see Task.held); it may have no jobs yet. */
  held: boolean;
  createdBy: string | null;
  createdByLabel: string;
  jobs: { agentId: string; name: string; timeoutSeconds: number; kind: string; payload: Record<string, unknown>; secrets: string[] }[];
}

/**
 * Agents on a WebSocket of this node, with room for `maxJobs` jobs: their new jobs are offered to
 * them as they are made, while each organisation has fewer jobs offered or running than its limit.
 */
export interface OfferHere {
  agentIds: string[];
  maxJobs: number[];
  runningLimits: Map<string, number>;
  nodeId: string;
  offerSeconds: number;
}

/** A task as inserted, with its jobs: queued, or already offered. */
export interface InsertedTask {
  id: string;
  createdAt: Date;
  jobs: { id: string; agentId: string; state: 'queued' | 'offered'; createdAt: string }[];
}

/** What settling did to one task. */
export interface SettledTask {
  id: string;
  kind: string;
  from: TaskState;
  state: TaskState;
  /** It is finished now (it may have been before, with another outcome: see TASK_TRANSITIONS). */
  finished: boolean;
  blockedBy: string | null;
  keyed: boolean;
  /** Since it was created: its whole duration, once finished. */
  ageSeconds: number;
}

const LONE_SURROGATE = /\p{Surrogate}/gu;

@Injectable()
export class TasksRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  /**
   * Inserts tasks with their jobs in one statement, in order; a task is left out (no entry in the
   * answer, by its index) unless every one of its jobs' agents is an approved agent of its
   * organisation. A job is claimable at once unless its task waits on a concurrency key; the job of
   * an agent in `here` with room for it is offered to it right here instead of waiting for a claim.
   * Other modules' `parts` (audit, notifications) read the tasks made from `made` (n, id). Without
   * `em`, the statement is a transaction of its own.
   */
  async insertMany(em: EntityManager | null, tasks: TaskRow[], here: OfferHere | null, parts: SqlPart[] = []): Promise<Map<number, InsertedTask>> {
    const rows = tasks.map((t, n) => ({
      n,
      organization_id: t.organizationId,
      name: t.name,
      kind: t.kind,
      spec: t.spec,
      timeout_seconds: t.timeoutSeconds,
      concurrency_key: t.concurrencyKey,
      blocked_by: t.blockedBy,
      idempotent: t.idempotent,
      max_attempts: t.maxAttempts,
      parent_task_id: t.parentTaskId,
      held: t.held,
      created_by: t.createdBy,
      created_by_label: t.createdByLabel,
      jobs: t.jobs,
      running_limit: here?.runningLimits.get(t.organizationId) ?? 0,
    }));
    const also = composeParts(parts, 'made', 5);
    const name = `corral_insert_tasks${also.name}`;
    const text = `WITH x AS MATERIALIZED (
           SELECT gen_random_uuid() AS id, x.* FROM jsonb_to_recordset($1::jsonb) AS x(
             n int, organization_id uuid, name text, kind text, spec jsonb, timeout_seconds int, concurrency_key text, blocked_by uuid,
             idempotent boolean, max_attempts int, parent_task_id uuid, held boolean, created_by uuid, created_by_label text, jobs jsonb, running_limit int)
            -- "= ANY (ARRAY(...))", not "IN (SELECT ...)": the semi-join form scanned every agent of the
            -- organisation for each task (14 ms with 10,000 agents, instead of a look-up by primary key).
            WHERE (SELECT count(*) FROM agents a
                    WHERE a.organization_id = x.organization_id AND a.status = 'approved'
                      AND a.id = ANY (ARRAY(SELECT (e ->> 'agentId')::uuid FROM jsonb_array_elements(x.jobs) e))) = jsonb_array_length(x.jobs)
         ), t AS (
           INSERT INTO tasks (id, organization_id, name, kind, state, spec, timeout_seconds, concurrency_key, blocked_by, idempotent, max_attempts, parent_task_id, held, created_by, created_by_label)
           SELECT id, organization_id, name, kind, 'queued', spec, timeout_seconds, concurrency_key, blocked_by, idempotent, max_attempts, parent_task_id, held, created_by, created_by_label
             FROM x ORDER BY n
           RETURNING id, created_at
         ), made AS (SELECT n, id FROM x), org_room AS MATERIALIZED (
           -- What each organisation may still have offered or running (IDX_jobs_org_held), when any agent is here;
           -- materialised so that it is counted once, not again for every target (as in the claim).
           SELECT o.organization_id, o.running_limit - (SELECT count(*) FROM jobs b WHERE b.organization_id = o.organization_id AND b.lease_expires_at IS NOT NULL) AS n
             FROM (SELECT organization_id, min(running_limit) AS running_limit FROM x GROUP BY organization_id) o WHERE cardinality($2::uuid[]) > 0
         ), target AS (
           -- An agent here is offered as many of these jobs as it has room for, earliest task first,
           -- and its organisation as many as its running limit leaves room for (counting every job that could be).
           SELECT x.id AS task_id, x.organization_id, x.n, e.i, (e.j ->> 'agentId')::uuid AS agent_id, e.j ->> 'name' AS name, (e.j ->> 'timeoutSeconds')::int AS timeout_seconds, e.j ->> 'kind' AS kind, e.j -> 'payload' AS payload,
                  ARRAY(SELECT jsonb_array_elements_text(e.j -> 'secrets')) AS secrets, x.blocked_by IS NULL AS ready,
                  x.blocked_by IS NULL AND h.max_jobs IS NOT NULL
                    AND h.max_jobs - (SELECT count(*) FROM jobs b WHERE b.agent_id = (e.j ->> 'agentId')::uuid AND b.lease_expires_at IS NOT NULL)
                        >= row_number() OVER (PARTITION BY e.j ->> 'agentId', x.blocked_by IS NULL AND h.max_jobs IS NOT NULL ORDER BY x.n)
                    AND org_room.n >= row_number() OVER (PARTITION BY x.organization_id, x.blocked_by IS NULL AND h.max_jobs IS NOT NULL ORDER BY x.n, e.i) AS offer
             FROM x CROSS JOIN LATERAL jsonb_array_elements(x.jobs) WITH ORDINALITY AS e(j, i)
             LEFT JOIN LATERAL (SELECT h.max_jobs FROM unnest($2::uuid[], $3::int[]) AS h(agent_id, max_jobs) WHERE h.agent_id = (e.j ->> 'agentId')::uuid LIMIT 1) h ON true
             LEFT JOIN org_room ON org_room.organization_id = x.organization_id
         ), j AS (
           INSERT INTO jobs (task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, secrets, state, ready, queued_at, offered_at, offered_by_node, lease_expires_at)
           SELECT task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, secrets, CASE WHEN offer THEN 'offered' ELSE 'queued' END, ready, CASE WHEN ready THEN now() END,
                  CASE WHEN offer THEN now() END, CASE WHEN offer THEN $4 END, CASE WHEN offer THEN now() + make_interval(secs => $5) END
             FROM target ORDER BY n, i
           RETURNING id, task_id, agent_id, state, created_at
         )${also.ctes}
         SELECT x.n, t.id, t.created_at AS "createdAt",
                COALESCE((SELECT json_agg(json_build_object('id', j.id, 'agentId', j.agent_id, 'state', j.state, 'createdAt', j.created_at) ORDER BY tg.i)
                   FROM j JOIN target tg ON tg.task_id = j.task_id AND tg.agent_id = j.agent_id WHERE j.task_id = t.id), '[]') AS jobs
           FROM t JOIN x ON x.id = t.id
          WHERE ${also.reads}`;
    const values = [
      // As a text parameter would be, a lone surrogate is stored as U+FFFD (jsonb refuses one).
      JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'string' ? value.replace(LONE_SURROGATE, '\uFFFD') : value)),
      here?.agentIds ?? [],
      here?.maxJobs ?? [],
      here?.nodeId ?? null,
      here?.offerSeconds ?? 0,
      ...also.values,
    ];
    const inserted = em ? await this.sql.queryIn<InsertedTask & { n: number }>(em, name, text, values) : await this.sql.query<InsertedTask & { n: number }>(name, text, values);
    return new Map(inserted.map(({ n, ...task }) => [n, { ...task, createdAt: new Date(task.createdAt) }]));
  }

  /** How many of the organisation's tasks wait to start, counted up to `upTo` (served by IDX_tasks_queued). */
  async countQueued(organizationId: string, upTo: number, em: EntityManager = this.dataSource.manager): Promise<number> {
    const rows: { n: number }[] = await em.query(`SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks WHERE organization_id = $1 AND state = 'queued' LIMIT $2) q`, [organizationId, upTo]);
    return rows[0].n;
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

  async stateInOrganization(organizationId: string, id: string): Promise<TaskState | undefined> {
    const [row] = await this.dataSource.query<{ state: TaskState }[]>(`SELECT state FROM tasks WHERE organization_id = $1 AND id = $2`, [organizationId, id]);
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
    if (filter.agentId) q.andWhere('EXISTS (SELECT 1 FROM jobs j WHERE j.task_id = t.id AND j.organization_id = t.organization_id AND j.agent_id = :agentId)', { agentId: filter.agentId });
    if (filter.nodeId)
      q.andWhere(
        `EXISTS (SELECT 1 FROM jobs j JOIN agents a ON a.id = j.agent_id WHERE j.task_id = t.id AND j.organization_id = t.organization_id AND j.state = 'running' AND a.connected_node_id = :nodeId)`,
        { nodeId: filter.nodeId },
      );
    if (filter.before) q.andWhere('(t.created_at, t.id) < (SELECT b.created_at, b.id FROM tasks b WHERE b.id = :before AND b.organization_id = :organizationId)', { before: filter.before });
    return q.orderBy('t.created_at', 'DESC').addOrderBy('t.id', 'DESC').limit(filter.limit).getMany();
  }

  async jobsOfTasks(organizationId: string, taskIds: string[]): Promise<JobWithAgent[]> {
    if (!taskIds.length) return [];
    const rows = await this.dataSource
      .getRepository(Job)
      .createQueryBuilder('j')
      .innerJoin('j.agent', 'a')
      .addSelect('a.name', 'agent_name')
      .where('j.organization_id = :organizationId AND j.task_id IN (:...taskIds)', { organizationId, taskIds })
      .orderBy('j.created_at')
      .addOrderBy('j.id')
      .getRawAndEntities();
    return rows.entities.map((job, i) => Object.assign(job, { agentName: (rows.raw[i] as { agent_name: string }).agent_name }));
  }

  async markCancelRequested(em: EntityManager, organizationId: string, id: string, by: string): Promise<void> {
    await em.query(`UPDATE tasks SET cancel_requested_at = COALESCE(cancel_requested_at, now()), cancel_requested_by = COALESCE(cancel_requested_by, $3) WHERE organization_id = $1 AND id = $2`, [
      organizationId,
      id,
      by,
    ]);
  }

  /** Brings each task's state in line with its jobs' (see `settling`); returns the tasks that moved. */
  async settle(em: EntityManager, taskIds: string[]): Promise<SettledTask[]> {
    if (!taskIds.length) return [];
    return this.sql.queryIn<SettledTask>(em, 'corral_settle_tasks', `WITH ${settling('(SELECT * FROM tasks WHERE id = ANY ($1::uuid[]))', 'jobs')} SELECT * FROM settled`, [taskIds]);
  }

  /** What the metrics log says of tasks that just finished: their timings and their jobs. */
  finishedSummaries(
    em: EntityManager,
    taskIds: string[],
  ): Promise<{ taskId: string; organizationId: string; kind: string; outcome: string; queuedSeconds: number; runningSeconds: number; jobs: number }[]> {
    return em.query(
      `SELECT t.id AS "taskId", t.organization_id AS "organizationId", t.kind, t.state AS outcome,
              EXTRACT(EPOCH FROM COALESCE(t.started_at, t.finished_at, now()) - t.created_at)::float8 AS "queuedSeconds",
              COALESCE(EXTRACT(EPOCH FROM COALESCE(t.finished_at, now()) - t.started_at), 0)::float8 AS "runningSeconds",
              (SELECT count(*)::int FROM jobs j WHERE j.task_id = t.id AND j.organization_id = t.organization_id) AS jobs
         FROM tasks t WHERE t.id = ANY ($1::uuid[])`,
      [taskIds],
    );
  }

  /**
   * A finished task hands its concurrency key on: the task behind it now waits for whatever this
   * one waited for, or for nothing. Returns the tasks that may run now.
   */
  async handOver(em: EntityManager, task: Pick<SettledTask, 'id' | 'blockedBy'>): Promise<{ id: string; kind: string }[]> {
    const rows = await em.query(`UPDATE tasks SET blocked_by = $2 WHERE blocked_by = $1 RETURNING id, kind`, [task.id, task.blockedBy]);
    await em.query(`UPDATE tasks SET blocked_by = NULL WHERE id = $1`, [task.id]);
    return task.blockedBy ? [] : rowsOf<{ id: string; kind: string }>(rows);
  }

  /**
   * Jobs for a task that already exists (one its module holds), claimable unless the task waits on
   * its concurrency key; a job whose agent is not an approved agent of the organisation is left out.
   */
  async insertJobs(em: EntityManager, task: Pick<Task, 'id' | 'organizationId' | 'blockedBy'>, jobs: TaskRow['jobs']): Promise<{ id: string; agentId: string }[]> {
    if (!jobs.length) return [];
    const rows = await em.query(
      `INSERT INTO jobs (task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, secrets, state, ready, queued_at)
       SELECT $1, $2, x.agent_id, x.name, x.timeout_seconds, x.kind, x.payload, ARRAY(SELECT jsonb_array_elements_text(x.secrets)), 'queued', $3, CASE WHEN $3 THEN now() END
         FROM jsonb_to_recordset($4::jsonb) AS x(n int, agent_id uuid, name text, timeout_seconds int, kind text, payload jsonb, secrets jsonb)
        WHERE EXISTS (SELECT 1 FROM agents a WHERE a.id = x.agent_id AND a.organization_id = $2 AND a.status = 'approved')
        ORDER BY x.n
       RETURNING id, agent_id AS "agentId"`,
      [
        task.id,
        task.organizationId,
        task.blockedBy === null,
        JSON.stringify(jobs.map((j, n) => ({ n, agent_id: j.agentId, name: j.name, timeout_seconds: j.timeoutSeconds, kind: j.kind, payload: j.payload, secrets: j.secrets }))),
      ],
    );
    return rowsOf<{ id: string; agentId: string }>(rows);
  }

  /** Its module lets the task go, with the outcome it decided (or, without one, its jobs decide); the caller settles it. */
  async conclude(em: EntityManager, organizationId: string, taskId: string, outcome: Task['outcome']): Promise<void> {
    await em.query(`UPDATE tasks SET held = false, outcome = $3 WHERE organization_id = $1 AND id = $2`, [organizationId, taskId, outcome]);
  }
}

const TASK_EDGES = taskEdges();

/**
 * The one place a task's state is derived, as two CTEs for a statement's WITH: `settled` moves the
 * tasks in `tasks` (a relation with the tasks table's columns) in line with their jobs in `jobs`
 * (a relation with `task_id` and `state`) and returns them as SettledTask rows.
 *
 * While any job is queued, offered or running, or while its module holds it (Task.held), the
 * task is queued (nothing started yet), running, or cancelling (cancel asked). Once neither, the
 * outcome its module concluded it with decides; without one, it succeeded only if every job did
 * (or it had none); any failed or unknown job fails it, a timeout times it out, and a cancel
 * asked for wins over both. A task moves only along TASK_TRANSITIONS, so a finished task never
 * becomes active again. The caller holds the tasks' row locks (taken before their jobs'), so no
 * concurrent change to their jobs is missed.
 */
export function settling(tasks: string, jobs: string): string {
  return `settle_derived AS (
         SELECT t.id, t.kind, t.state AS old, t.blocked_by, t.concurrency_key IS NOT NULL AS keyed,
                CASE
                  WHEN bool_or(j.state IN ('queued', 'offered', 'running')) OR t.held THEN
                    CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelling'
                         WHEN bool_or(j.state NOT IN ('queued', 'offered')) OR (t.held AND t.started_at IS NOT NULL) THEN 'running'
                         ELSE 'queued' END
                  WHEN t.outcome IS NOT NULL THEN t.outcome
                  WHEN t.cancel_requested_at IS NOT NULL AND bool_or(j.state = 'cancelled') THEN 'cancelled'
                  WHEN bool_or(j.state IN ('failed', 'unknown')) THEN 'failed'
                  WHEN bool_or(j.state = 'timed_out') THEN 'timed_out'
                  WHEN bool_or(j.state = 'cancelled') THEN 'cancelled'
                  ELSE 'succeeded'
                END AS new
           FROM ${tasks} t LEFT JOIN ${jobs} j ON j.task_id = t.id
          GROUP BY t.id, t.kind, t.state, t.blocked_by, t.concurrency_key, t.held, t.cancel_requested_at, t.started_at, t.outcome
       ), settled AS (
         UPDATE tasks SET state = d.new,
                started_at = CASE WHEN d.new IN ('running', 'cancelling') THEN COALESCE(tasks.started_at, now()) ELSE tasks.started_at END,
                finished_at = CASE WHEN d.new IN ('succeeded', 'failed', 'cancelled', 'timed_out') THEN COALESCE(tasks.finished_at, now()) ELSE tasks.finished_at END
           FROM settle_derived d
          WHERE tasks.id = d.id AND (d.old, d.new) IN ${TASK_EDGES}
         RETURNING tasks.id, d.kind, d.old AS "from", d.new AS state, d.new IN ('succeeded', 'failed', 'cancelled', 'timed_out') AS finished,
                   d.blocked_by AS "blockedBy", d.keyed, EXTRACT(EPOCH FROM now() - tasks.created_at)::float8 AS "ageSeconds"
       )`;
}
