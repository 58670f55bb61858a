import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { rowsOf } from '../database/query-rows';
import { Sql } from '../database/sql';
import type { JobKind, JobOutcome, LogStream, ScriptSyntax } from '../protocol/messages';
import type { JobState } from './task-states';

/** What a claim hands over: everything the offer to the agent needs. */
export interface ClaimedJob {
  id: string;
  agentId: string;
  taskId: string;
  organizationId: string;
  attempt: number;
  name: string;
  kind: JobKind;
  scriptSyntax: ScriptSyntax;
  scriptBody: string;
  timeoutSeconds: number;
  sensitiveValues: string[];
  queuedAt: Date | null;
  createdAt: Date;
}

/** One agent's request for offers: it has room for `maxJobs` jobs in all. */
export interface ClaimRequest {
  agentId: string;
  maxJobs: number;
}

/** What one agent was offered by a claim, and how much room it had. */
export interface Claim {
  agentId: string;
  room: number;
  offers: ClaimedJob[];
}

/** A job attempt as an agent names it. */
export interface JobRef {
  agentId: string;
  jobId: string;
  attempt: number;
}

export interface JobFinishRow extends JobRef {
  outcome: JobOutcome;
  exitCode: number | null;
  signal: string | null;
  message: string | null;
  logChunks: number;
}

/** The key batch results are matched by. */
export function refKey(jobId: string, attempt: number): string {
  return `${jobId}:${attempt}`;
}

export interface JobRow {
  id: string;
  taskId: string;
  agentId: string;
  state: JobState;
  attempt: number;
  nextLogSeq: number;
  logBytes: number;
  logTruncated: boolean;
  maskCarry: Record<string, string>;
  cancelRequestedAt: Date | null;
  sensitiveValues: string[];
}

/** One stored chunk of a task's log, as readers get it. */
export interface LogLine {
  jobId: string;
  agentName: string;
  attempt: number;
  seq: number;
  stream: LogStream;
  text: string;
  at: Date;
}

export interface CancelRow {
  id: string;
  attempt: number;
  agentId: string;
}

const JOB_ROW = `j.id, j.task_id AS "taskId", j.agent_id AS "agentId", j.state, j.attempt, j.next_log_seq AS "nextLogSeq",
  j.log_bytes::float8 AS "logBytes", j.log_truncated AS "logTruncated", j.mask_carry AS "maskCarry", j.cancel_requested_at AS "cancelRequestedAt"`;

/**
 * The queue, in SQL. Every statement that moves a job names the state it expects, so a race
 * loses cleanly; claims skip rows another node holds instead of waiting for them. A statement for
 * a batch joins its rows (unnest of the arrays it is given) to the table by primary key, and what
 * else it checks about a row is a subquery per row, not a join: whatever the statistics say (a
 * new table has none), the planner has nothing cheaper to start from than the batch itself.
 */
@Injectable()
export class JobsRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  /**
   * Offers each agent as many of its claimable jobs as it has room for, oldest first, in one
   * statement for the whole batch (served by IDX_jobs_claimable). Offers lapse after `offerSeconds`.
   * Every approved agent asked about gets an answer, with the room it had: fewer offers than room
   * means nothing more is waiting for it.
   */
  async claimOffers(requests: ClaimRequest[], nodeId: string, offerSeconds: number): Promise<Claim[]> {
    if (!requests.length) return [];
    const rows = await this.sql.query<Partial<ClaimedJob> & { agentId: string; room: number }>(
      'corral_claim_offers',
      `WITH r AS (SELECT * FROM unnest($1::uuid[], $2::int[]) AS r(agent_id, max_jobs)),
       room AS (
         SELECT r.agent_id, GREATEST(0, r.max_jobs - (SELECT count(*) FROM jobs b WHERE b.agent_id = r.agent_id AND b.lease_expires_at IS NOT NULL))::int AS n
           FROM r WHERE (SELECT a.status FROM agents a WHERE a.id = r.agent_id) = 'approved'
       ), picked AS (
         SELECT p.id FROM room CROSS JOIN LATERAL (
           SELECT j.id FROM jobs j
            WHERE j.agent_id = room.agent_id AND j.state = 'queued' AND j.ready AND j.available_at <= now()
            ORDER BY j.created_at LIMIT room.n
              FOR UPDATE OF j SKIP LOCKED
         ) p
       ), offered AS (
         UPDATE jobs SET state = 'offered', offered_at = now(), offered_by_node = $3, lease_expires_at = now() + make_interval(secs => $4)
           FROM tasks t
          WHERE jobs.id = ANY (ARRAY(SELECT id FROM picked)) AND t.id = jobs.task_id
         RETURNING jobs.id, jobs.agent_id, jobs.task_id AS "taskId", jobs.organization_id AS "organizationId", jobs.attempt, t.name, t.kind,
                   t.script_syntax AS "scriptSyntax", t.script_body AS "scriptBody", t.timeout_seconds AS "timeoutSeconds",
                   t.sensitive_values AS "sensitiveValues", jobs.queued_at AS "queuedAt", jobs.created_at AS "createdAt"
       )
       SELECT room.agent_id AS "agentId", room.n AS room, o.id, o."taskId", o."organizationId", o.attempt, o.name, o.kind, o."scriptSyntax", o."scriptBody",
              o."timeoutSeconds", o."sensitiveValues", o."queuedAt", o."createdAt"
         FROM room LEFT JOIN offered o ON o.agent_id = room.agent_id
        ORDER BY o."createdAt"`,
      [requests.map((r) => r.agentId), requests.map((r) => r.maxJobs), nodeId, offerSeconds],
      'lazy',
    );
    const claims = new Map<string, Claim>();
    for (const { room, ...row } of rows) {
      const claim = claims.get(row.agentId) ?? { agentId: row.agentId, room, offers: [] };
      claims.set(row.agentId, claim);
      if (row.id) claim.offers.push(row as ClaimedJob);
    }
    return [...claims.values()];
  }

  /** Running jobs of these agents whose cancellation was asked for and must be (re)sent. */
  findCancelRequested(agentIds: string[]): Promise<CancelRow[]> {
    if (!agentIds.length) return Promise.resolve([]);
    return this.sql.query<CancelRow>(
      'corral_cancel_requested',
      `SELECT id, attempt, agent_id AS "agentId" FROM jobs
        WHERE agent_id = ANY($1::uuid[]) AND lease_expires_at IS NOT NULL AND state = 'running' AND cancel_requested_at IS NOT NULL`,
      [agentIds],
    );
  }

  /** Agents, on any node, with a job they may claim now (the backstop behind NOTIFY): the claimable rows are the queue's hot set, and its partial index serves them. */
  async agentsWithClaimableJobs(): Promise<string[]> {
    const rows = await this.sql.query<{ agentId: string }>(
      'corral_agents_with_claimable_jobs',
      `SELECT DISTINCT agent_id AS "agentId" FROM jobs WHERE state = 'queued' AND ready AND available_at <= now()`,
      [],
    );
    return rows.map((r) => r.agentId);
  }

  /**
   * Locks the job's task, then the job, in that order (every path that changes a task's jobs
   * takes the task first, so two of them cannot deadlock). Null when the job is not this agent's.
   */
  async lockJob(em: EntityManager, jobId: string, agentId: string | null): Promise<JobRow | null> {
    // FOR UPDATE OF t, j locks in range-table order: the task first.
    const rows = await em.query<JobRow[]>(
      `SELECT ${JOB_ROW}, t.sensitive_values AS "sensitiveValues"
         FROM tasks t JOIN jobs j ON j.task_id = t.id
        WHERE j.id = $1 AND ($2::uuid IS NULL OR j.agent_id = $2)
          FOR UPDATE OF t, j`,
      [jobId, agentId],
    );
    return rows[0] ?? null;
  }

  /**
   * The common accept, for a whole batch in one statement: offered → running under a lease, and
   * each queued task to running. Not announced: live followers wait for output, and every
   * notifying commit takes PostgreSQL's one global notify lock. Returns the refs ("job:attempt")
   * it moved; the caller takes the careful path, which knows what to answer, for the others.
   */
  async acceptMany(accepts: JobRef[], leaseSeconds: number): Promise<Set<string>> {
    if (!accepts.length) return new Set();
    const rows = await this.sql.query<{ id: string; attempt: number }>(
      'corral_accept_many',
      `WITH r AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS r(id, attempt, agent_id)),
       j AS (
         UPDATE jobs SET state = 'running', started_at = now(), lease_expires_at = now() + make_interval(secs => $4)
           FROM r
          WHERE jobs.id = r.id AND jobs.attempt = r.attempt AND jobs.agent_id = r.agent_id AND jobs.state = 'offered'
            AND (SELECT a.status FROM agents a WHERE a.id = r.agent_id) = 'approved'
         RETURNING jobs.id, jobs.attempt, jobs.task_id
       ), t AS (
         UPDATE tasks SET state = 'running', started_at = COALESCE(started_at, now())
          WHERE id = ANY (ARRAY(SELECT task_id FROM j)) AND state = 'queued' AND cancel_requested_at IS NULL
         RETURNING id
       )
       SELECT id, attempt, (SELECT count(*) FROM t) AS started FROM j`,
      [accepts.map((a) => a.jobId), accepts.map((a) => a.attempt), accepts.map((a) => a.agentId), leaseSeconds],
    );
    return new Set(rows.map((r) => refKey(r.id, r.attempt)));
  }

  /**
   * The common finish, for a whole batch in one statement: the only job of a task without a
   * concurrency key, its log complete and nothing held back for masking. The task takes the
   * job's outcome (what deriveTaskState gives for one job). Returns the jobs it finished, with
   * their tasks.
   */
  async finishMany(finishes: JobFinishRow[]): Promise<Map<string, string>> {
    if (!finishes.length) return new Map();
    const rows = await this.sql.query<{ id: string; attempt: number; taskId: string }>(
      'corral_finish_many',
      `WITH r AS (
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[], $8::int[])
             AS r(id, attempt, agent_id, outcome, exit_code, signal, message, log_chunks)
       ), j AS (
         UPDATE jobs SET state = r.outcome, exit_code = r.exit_code, signal = r.signal, message = r.message, finished_at = now(), lease_expires_at = NULL
           FROM r
          WHERE jobs.id = r.id AND jobs.attempt = r.attempt AND jobs.agent_id = r.agent_id AND jobs.state IN ('offered', 'running', 'unknown')
            AND jobs.next_log_seq >= r.log_chunks AND jobs.mask_carry = '{}'::jsonb
            AND (SELECT t.concurrency_key IS NULL FROM tasks t WHERE t.id = jobs.task_id)
            AND (SELECT count(*) FROM jobs o WHERE o.task_id = jobs.task_id) = 1
         RETURNING jobs.id, jobs.attempt, jobs.task_id, jobs.state
       ), t AS (
         UPDATE tasks SET state = j.state, started_at = COALESCE(tasks.started_at, now()), finished_at = now(), sensitive_values = '{}'
           FROM j
          WHERE tasks.id = j.task_id AND tasks.state <> j.state
         RETURNING tasks.id
       )
       SELECT id, attempt, task_id AS "taskId", (SELECT count(*) FROM t) AS changed FROM j`,
      [
        finishes.map((f) => f.jobId),
        finishes.map((f) => f.attempt),
        finishes.map((f) => f.agentId),
        finishes.map((f) => f.outcome),
        finishes.map((f) => f.exitCode),
        finishes.map((f) => f.signal),
        finishes.map((f) => f.message),
        finishes.map((f) => f.logChunks),
      ],
    );
    return new Map(rows.map((r) => [refKey(r.id, r.attempt), r.taskId]));
  }

  /** offered → running under a lease: the agent may start the job now. */
  async markRunning(em: EntityManager, jobId: string, attempt: number, leaseSeconds: number): Promise<boolean> {
    // The agent's approval is checked here too, at the moment work starts, whatever the offer said.
    const result = await em.query(
      `UPDATE jobs SET state = 'running', started_at = now(), lease_expires_at = now() + make_interval(secs => $3)
        WHERE id = $1 AND attempt = $2 AND state = 'offered' AND EXISTS (SELECT 1 FROM agents a WHERE a.id = jobs.agent_id AND a.status = 'approved')
       RETURNING id`,
      [jobId, attempt, leaseSeconds],
    );
    return rowsOf(result).length > 0;
  }

  /** The agent will not take the offer now: back to the queue, not offered again for `delaySeconds`. */
  async requeueOffer(em: EntityManager, jobId: string, attempt: number, delaySeconds: number): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = 'queued', offered_at = NULL, offered_by_node = NULL, lease_expires_at = NULL, available_at = now() + make_interval(secs => $3)
        WHERE id = $1 AND attempt = $2 AND state = 'offered' RETURNING id`,
      [jobId, attempt, delaySeconds],
    );
    return rowsOf(result).length > 0;
  }

  /** Ends a job from one of the `from` states; false when it was elsewhere (a lost race). */
  async finish(
    em: EntityManager,
    jobId: string,
    attempt: number,
    from: readonly JobState[],
    outcome: { state: JobOutcome | 'failed' | 'cancelled'; exitCode?: number | null; signal?: string | null; message: string | null },
  ): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = $4, exit_code = $5, signal = $6, message = $7, finished_at = now(), lease_expires_at = NULL
        WHERE id = $1 AND attempt = $2 AND state = ANY($3::text[]) RETURNING id`,
      [jobId, attempt, from, outcome.state, outcome.exitCode ?? null, outcome.signal ?? null, outcome.message],
    );
    return rowsOf(result).length > 0;
  }

  /**
   * Renews the leases of the running jobs agents still report, for a whole batch of heartbeats.
   * A job marked unknown because its lease lapsed comes back to running: the agent was alive after all.
   */
  async renewLeases(reported: JobRef[], leaseSeconds: number): Promise<{ id: string; attempt: number; cancelRequested: boolean }[]> {
    if (!reported.length) return [];
    return this.sql.query(
      'corral_renew_leases',
      `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $4), state = 'running', message = CASE WHEN state = 'unknown' THEN NULL ELSE message END
         FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS r(id, attempt, agent_id)
        WHERE jobs.id = r.id AND jobs.attempt = r.attempt AND jobs.agent_id = r.agent_id AND jobs.state IN ('running', 'unknown')
       RETURNING jobs.id, jobs.attempt, jobs.cancel_requested_at IS NOT NULL AS "cancelRequested"`,
      [reported.map((j) => j.jobId), reported.map((j) => j.attempt), reported.map((j) => j.agentId), leaseSeconds],
      'lazy',
    );
  }

  /** Stores one chunk (already masked) and moves the expected sequence on. */
  async appendLog(
    em: EntityManager,
    job: { id: string; taskId: string; attempt: number },
    seq: number,
    pieces: { stream: LogStream; text: string }[],
    state: { nextLogSeq: number; logBytes: number; logTruncated: boolean; maskCarry: Record<string, string> },
  ): Promise<void> {
    // Several pieces (a flushed carry, a truncation marker) may share one agent sequence number;
    // stored chunks are numbered on their own, so each keeps the order it was written in.
    for (const piece of pieces) {
      if (!piece.text) continue;
      await em.query(
        `INSERT INTO log_chunks (job_id, attempt, seq, task_id, stream, text)
         VALUES ($1, $2, (SELECT COALESCE(max(seq) + 1, 0) FROM log_chunks WHERE job_id = $1 AND attempt = $2), $3, $4, $5)`,
        [job.id, job.attempt, job.taskId, piece.stream, piece.text],
      );
    }
    await em.query(`UPDATE jobs SET next_log_seq = $3, log_bytes = $4, log_truncated = $5, mask_carry = $6 WHERE id = $1 AND attempt = $2`, [
      job.id,
      job.attempt,
      seq,
      state.logBytes,
      state.logTruncated,
      JSON.stringify(state.maskCarry),
    ]);
  }

  /** Offers nobody accepted in time go back to the queue. Returns the agents to offer them again. */
  async expireOffers(): Promise<string[]> {
    // One agent id per lapsed offer (the caller counts them), possibly repeated.
    const result = await this.dataSource.query(
      `UPDATE jobs SET state = 'queued', offered_at = NULL, offered_by_node = NULL, lease_expires_at = NULL
        WHERE id IN (SELECT id FROM jobs WHERE state = 'offered' AND lease_expires_at < now() LIMIT 1000 FOR UPDATE SKIP LOCKED)
       RETURNING agent_id AS "agentId"`,
    );
    return rowsOf<{ agentId: string }>(result).map((r) => r.agentId);
  }

  /** Running jobs whose agent stopped renewing the lease (served by IDX_jobs_held). */
  async findLapsedLeases(limit = 500): Promise<{ id: string; agentId: string; idempotent: boolean; attempt: number; maxAttempts: number }[]> {
    return this.dataSource.query(
      `SELECT j.id, j.agent_id AS "agentId", t.idempotent, j.attempt, t.max_attempts AS "maxAttempts"
         FROM jobs j JOIN tasks t ON t.id = j.task_id
        WHERE j.state = 'running' AND j.lease_expires_at < now() ORDER BY j.lease_expires_at LIMIT $1`,
      [limit],
    );
  }

  /** Claimable jobs that waited longer than the delivery timeout (served by IDX_jobs_waiting). */
  async findUndelivered(timeoutSeconds: number, limit = 500): Promise<{ id: string; agentId: string }[]> {
    return this.dataSource.query(
      `SELECT id, agent_id AS "agentId" FROM jobs WHERE state = 'queued' AND ready AND queued_at < now() - make_interval(secs => $1) ORDER BY queued_at LIMIT $2`,
      [timeoutSeconds, limit],
    );
  }

  /** A lapsed lease on an idempotent task: run it again as the next attempt, with a fresh log. */
  async retry(em: EntityManager, jobId: string, message: string): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = 'queued', attempt = attempt + 1, queued_at = now(), available_at = now(), offered_at = NULL, offered_by_node = NULL,
              lease_expires_at = NULL, started_at = NULL, next_log_seq = 0, log_bytes = 0, log_truncated = false, mask_carry = '{}'::jsonb, message = $2
        WHERE id = $1 AND state = 'running' AND lease_expires_at < now() RETURNING id`,
      [jobId, message],
    );
    return rowsOf(result).length > 0;
  }

  /** A lapsed lease: nobody knows whether the job finished, so it is not retried. */
  async markLost(em: EntityManager, jobId: string, message: string): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = 'unknown', message = $2, lease_expires_at = NULL WHERE id = $1 AND state = 'running' AND lease_expires_at < now() RETURNING id`,
      [jobId, message],
    );
    return rowsOf(result).length > 0;
  }

  /** Cancels what has not started and flags what runs; returns the agents that must be told. */
  async cancelForTask(em: EntityManager, taskId: string, message: string): Promise<{ running: CancelRow[] }> {
    await em.query(
      `UPDATE jobs SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL, message = $2 WHERE task_id = $1 AND state IN ('queued', 'offered')`,
      [taskId, message],
    );
    const result = await em.query(
      `UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now()) WHERE task_id = $1 AND state = 'running' RETURNING id, attempt, agent_id AS "agentId"`,
      [taskId],
    );
    return { running: rowsOf<CancelRow>(result) };
  }

  async isInTask(jobId: string, taskId: string): Promise<boolean> {
    return (await this.dataSource.query(`SELECT 1 FROM jobs WHERE id = $1 AND task_id = $2`, [jobId, taskId])).length > 0;
  }

  /** A task's chunks not yet seen, in order: `seen` maps "job:attempt" to the last chunk already read. */
  readLog(taskId: string, jobId: string | undefined, seen: ReadonlyMap<string, number>): Promise<LogLine[]> {
    return this.dataSource.query(
      `SELECT c.job_id AS "jobId", a.name AS "agentName", c.attempt, c.seq, c.stream, c.text, c.created_at AS "at"
         FROM log_chunks c JOIN jobs j ON j.id = c.job_id JOIN agents a ON a.id = j.agent_id
        WHERE c.task_id = $1 AND ($2::uuid IS NULL OR c.job_id = $2)
          AND c.seq > COALESCE(($3::jsonb ->> (c.job_id::text || ':' || c.attempt))::int, -1)
        ORDER BY c.created_at, c.job_id, c.attempt, c.seq`,
      [taskId, jobId ?? null, JSON.stringify(Object.fromEntries(seen))],
    );
  }

  /** Unfinished jobs by state across the cluster, and how many an agent could be offered now (served by the partial indexes). */
  countActive(): Promise<{ state: string; n: number; ready: number }[]> {
    return this.dataSource.query(
      `SELECT state, count(*)::int AS n, count(*) FILTER (WHERE state = 'queued' AND ready AND available_at <= now())::int AS ready
         FROM jobs WHERE state IN ('queued', 'offered', 'running') GROUP BY state`,
    );
  }

  /** Jobs of these tasks become claimable (their task reached the front of its concurrency key). */
  async release(em: EntityManager, taskIds: string[]): Promise<string[]> {
    if (!taskIds.length) return [];
    const result = await em.query(`UPDATE jobs SET ready = true, queued_at = now() WHERE task_id = ANY($1::uuid[]) AND state = 'queued' AND NOT ready RETURNING agent_id AS "agentId"`, [taskIds]);
    return [...new Set(rowsOf<{ agentId: string }>(result).map((r) => r.agentId))];
  }
}
