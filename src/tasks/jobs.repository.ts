import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { rowsOf } from '../database/query-rows';
import { Sql } from '../database/sql';
import { JOB_OUTCOMES, type JobOutcome, type JobResult } from '../protocol/messages';
import { HELD_JOB_STATES, type JobState, jobMoveAllowed, statesInto } from './task-states';
import { settling } from './tasks.repository';

/** What a claim hands over: the job row, everything the offer to the agent needs. */
export interface ClaimedJob {
  id: string;
  agentId: string;
  taskId: string;
  organizationId: string;
  attempt: number;
  name: string;
  timeoutSeconds: number;
  kind: string;
  payload: Record<string, unknown>;
  secrets: string[];
  queuedAt: Date | null;
  createdAt: Date;
}

/**
 * One agent's request for offers: it has room for `maxJobs` jobs in all, and may be offered `cap` of
 * them now; its organisation may have `runningLimit` jobs offered or running at once.
 */
export interface ClaimRequest {
  agentId: string;
  maxJobs: number;
  cap: number;
  runningLimit: number;
}

/**
 * What one agent was offered by a claim, and how much room it had. `orgLimited`: its organisation
 * reached its running limit, so more may wait for it (its room is then what it was given).
 */
export interface Claim {
  agentId: string;
  room: number;
  offers: ClaimedJob[];
  orgLimited?: true;
}

/** A job attempt as an agent names it. */
export interface JobRef {
  agentId: string;
  jobId: string;
  attempt: number;
}

/** How a job ends: its outcome, and what the agent said about it. */
export interface JobEnd {
  id: string;
  attempt: number;
  state: JobOutcome;
  exitCode: number | null;
  signal: string | null;
  message: string | null;
  result: JobResult | null;
}

/** An agent's report that its job ended, having sent `logChunks` chunks of log. */
export interface JobReport extends JobEnd {
  agentId: string;
  logChunks: number;
}

/** The key batch results are matched by. */
export function refKey(jobId: string, attempt: number): string {
  return `${jobId}:${attempt}`;
}

/** A job as the paths that move it see it, under its row lock. */
export interface JobRow {
  id: string;
  taskId: string;
  agentId: string;
  organizationId: string;
  kind: string;
  state: JobState;
  attempt: number;
  nextLogSeq: number;
  logBytes: number;
  logTruncated: boolean;
  maskCarry: Record<string, string>;
  cancelRequestedAt: Date | null;
  secrets: string[];
  /** Since it started running, as of the statement; null when it never started. */
  runningSeconds: number | null;
}

/** A job that just ended, as the task-finished hooks get it. */
export interface FinishedJob {
  id: string;
  taskId: string;
  organizationId: string;
  agentId: string;
  kind: string;
  state: JobState;
  message: string | null;
  result: Record<string, unknown> | null;
  finishedAt: Date;
}

export interface CancelRow {
  id: string;
  attempt: number;
  agentId: string;
}

const JOB_ROW = `j.id, j.task_id AS "taskId", j.agent_id AS "agentId", j.organization_id AS "organizationId", j.kind, j.state, j.attempt, j.next_log_seq AS "nextLogSeq",
  j.log_bytes::float8 AS "logBytes", j.log_truncated AS "logTruncated", j.mask_carry AS "maskCarry", j.cancel_requested_at AS "cancelRequestedAt", j.secrets,
  EXTRACT(EPOCH FROM now() - j.started_at)::float8 AS "runningSeconds"`;

/** A locked job as it was before its statement, and whether that statement moved it. */
type MovedRow = JobRow & { moved: boolean };

function splitMoved(rows: MovedRow[]): { rows: Map<string, JobRow>; moved: Set<string> } {
  return { rows: new Map(rows.map(({ moved: _, ...row }) => [row.id, row])), moved: new Set(rows.filter((r) => r.moved).map((r) => r.id)) };
}

// Every statement below that moves a job names its edges through the transition table.
const CLAIM_FROM = statesInto('offered', ['queued']);
const START_FROM = statesInto('running', ['offered']);
const RENEW_FROM = statesInto('running', ['unknown']);
const REQUEUE_OFFER_FROM = statesInto('queued', ['offered']);
const RETRY_FROM = statesInto('queued', ['running']);
const LOSE_FROM = statesInto('unknown', ['running']);
const CANCEL_FROM = statesInto('cancelled', ['queued', 'offered']);
const FINISH_ALLOWED = jobMoveAllowed('jobs.state', 'r.state', JOB_OUTCOMES, HELD_JOB_STATES);

/**
 * The queue, in SQL. Every statement that moves a job names the states it may come from (from
 * JOB_TRANSITIONS), so a race loses cleanly; claims skip rows another node holds instead of
 * waiting for them. A statement for a batch joins its rows (unnest of the arrays it is given) to
 * the table by primary key, and what else it checks about a row is a subquery per row, not a
 * join: whatever the statistics say (a new table has none), the planner has nothing cheaper to
 * start from than the batch itself.
 */
@Injectable()
export class JobsRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  /**
   * Offers each agent as many of its claimable jobs as it has room for (at most its cap, and its
   * organisation's jobs offered or running at most its running limit), oldest first, in one
   * statement for the whole batch (served by IDX_jobs_claimable). Offers lapse after `offerSeconds`.
   * Every approved agent asked about gets an answer, with the room it had: fewer offers than room
   * means nothing more is waiting for it. An offer is built from the job row alone.
   */
  async claimOffers(requests: ClaimRequest[], nodeId: string, offerSeconds: number): Promise<Claim[]> {
    if (!requests.length) return [];
    const rows = await this.sql.query<Partial<ClaimedJob> & { agentId: string; room: number; orgLimited: boolean }>(
      'corral_claim_offers',
      `WITH r AS (SELECT * FROM unnest($1::uuid[], $2::int[], $5::int[], $6::int[]) AS r(agent_id, max_jobs, cap, running_limit)),
       room AS (
         SELECT r.agent_id, a.organization_id, r.running_limit,
                LEAST(r.cap, GREATEST(0, r.max_jobs - (SELECT count(*) FROM jobs b WHERE b.agent_id = r.agent_id AND b.lease_expires_at IS NOT NULL)))::int AS n
           FROM r JOIN agents a ON a.id = r.agent_id WHERE a.status = 'approved'
       ), org_room AS MATERIALIZED (
         -- What each organisation may still have offered or running, on every node (IDX_jobs_org_held).
         -- Materialised: inlined, its count ran again for every candidate job (392 counts of the
         -- organisation's held jobs in one 60 ms claim of the throughput bench).
         SELECT o.organization_id,
                GREATEST(0, o.running_limit - (SELECT count(*) FROM jobs b WHERE b.organization_id = o.organization_id AND b.lease_expires_at IS NOT NULL)) AS n
           FROM (SELECT organization_id, min(running_limit) AS running_limit FROM room GROUP BY organization_id) o
       ), candidate AS (
         SELECT p.id, room.agent_id, room.organization_id, row_number() OVER (PARTITION BY room.organization_id ORDER BY p.created_at) AS k
           FROM room CROSS JOIN LATERAL (
             SELECT j.id, j.created_at FROM jobs j
              WHERE j.agent_id = room.agent_id AND j.state IN ${CLAIM_FROM} AND j.ready AND j.available_at <= now()
              ORDER BY j.created_at LIMIT room.n
                FOR UPDATE OF j SKIP LOCKED
           ) p
       ), picked AS (
         SELECT c.id, c.agent_id, c.k <= o.n AS within FROM candidate c JOIN org_room o ON o.organization_id = c.organization_id
       ), offered AS (
         UPDATE jobs SET state = 'offered', offered_at = now(), offered_by_node = $3, lease_expires_at = now() + make_interval(secs => $4)
          WHERE jobs.id = ANY (ARRAY(SELECT id FROM picked WHERE within))
         RETURNING jobs.id, jobs.agent_id, jobs.task_id AS "taskId", jobs.organization_id AS "organizationId", jobs.attempt, jobs.name,
                   jobs.timeout_seconds AS "timeoutSeconds", jobs.kind, jobs.payload, jobs.secrets, jobs.queued_at AS "queuedAt", jobs.created_at AS "createdAt"
       ), cut AS (
         -- Agents some of whose jobs the organisation's limit kept back: their room is what they got.
         SELECT agent_id, count(*) FILTER (WHERE within)::int AS given FROM picked GROUP BY agent_id HAVING bool_or(NOT within)
       )
       SELECT room.agent_id AS "agentId", COALESCE(cut.given, room.n) AS room, cut.agent_id IS NOT NULL AS "orgLimited",
              o.id, o."taskId", o."organizationId", o.attempt, o.name, o."timeoutSeconds", o.kind, o.payload, o.secrets, o."queuedAt", o."createdAt"
         FROM room LEFT JOIN cut ON cut.agent_id = room.agent_id LEFT JOIN offered o ON o.agent_id = room.agent_id
        ORDER BY o."createdAt"`,
      [requests.map((r) => r.agentId), requests.map((r) => r.maxJobs), nodeId, offerSeconds, requests.map((r) => r.cap), requests.map((r) => r.runningLimit)],
      'lazy',
    );
    const claims = new Map<string, Claim>();
    for (const { room, orgLimited, ...row } of rows) {
      const claim = claims.get(row.agentId) ?? { agentId: row.agentId, room, offers: [], ...(orgLimited ? { orgLimited: true as const } : {}) };
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
   * Locks these jobs of these agents, each after its task (every path that changes a task's jobs
   * takes the task first, in task order, so two of them cannot deadlock over the same rows). A job
   * that is not its agent's is not there.
   */
  async lockJobs(em: EntityManager, refs: Pick<JobRef, 'jobId' | 'agentId'>[]): Promise<Map<string, JobRow>> {
    if (!refs.length) return new Map();
    // FOR UPDATE OF t, j locks in range-table order, row by row in the order sorted: the task first.
    const rows = await this.sql.queryIn<JobRow>(
      em,
      'corral_lock_jobs',
      `SELECT ${JOB_ROW}
         FROM tasks t JOIN jobs j ON j.task_id = t.id JOIN unnest($1::uuid[], $2::uuid[]) AS r(id, agent_id) ON j.id = r.id AND j.agent_id = r.agent_id
        ORDER BY t.id, j.id
          FOR UPDATE OF t, j`,
      [refs.map((r) => r.jobId), refs.map((r) => r.agentId)],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** One job by id, locked after its task, whoever its agent (the sweeper's view). */
  async lockJob(em: EntityManager, jobId: string): Promise<JobRow | null> {
    const rows = await em.query<JobRow[]>(`SELECT ${JOB_ROW} FROM tasks t JOIN jobs j ON j.task_id = t.id WHERE j.id = $1 FOR UPDATE OF t, j`, [jobId]);
    return rows[0] ?? null;
  }

  /**
   * Accepts, for a batch, in one statement: each job is locked after its task (as `lockJobs`
   * does), an offered one of the attempt named moves to running under a lease if its agent is
   * still approved (checked here, at the moment work starts), and the tasks of the started jobs
   * settle. Returns every job asked for that is its agent's, as it was before (a job that is not
   * its agent's is not there), and which of them started now.
   *
   * The task's own columns come from its locked row, and its started jobs alone settle it: a task
   * with a job just started is running, or cancelling, whatever its other jobs are, and never
   * finishes here, so nothing waits on its settling.
   */
  async accept(refs: JobRef[], leaseSeconds: number): Promise<{ rows: Map<string, JobRow>; started: Set<string> }> {
    if (!refs.length) return { rows: new Map(), started: new Set() };
    const rows = await this.sql.query<MovedRow>(
      'corral_accept_jobs',
      `WITH r AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS r(id, agent_id, attempt)),
         locked AS (
           SELECT j.*, r.attempt AS asked, t.kind AS task_kind, t.state AS task_state, t.blocked_by AS task_blocked_by, t.concurrency_key AS task_concurrency_key,
                  t.held AS task_held, t.cancel_requested_at AS task_cancel_requested_at, t.started_at AS task_started_at, t.outcome AS task_outcome
             FROM tasks t JOIN jobs j ON j.task_id = t.id JOIN r ON j.id = r.id AND j.agent_id = r.agent_id
            ORDER BY t.id, j.id
              FOR UPDATE OF t, j
         ), started AS (
           UPDATE jobs SET state = 'running', started_at = now(), lease_expires_at = now() + make_interval(secs => $4)
             FROM locked l
            WHERE jobs.id = l.id AND jobs.attempt = l.asked AND jobs.state IN ${START_FROM}
              AND (SELECT a.status FROM agents a WHERE a.id = jobs.agent_id) = 'approved'
           RETURNING jobs.id, jobs.state, l.task_id, l.task_kind, l.task_state, l.task_blocked_by, l.task_concurrency_key, l.task_held,
                     l.task_cancel_requested_at, l.task_started_at, l.task_outcome
         ), ${settling(
           `(SELECT DISTINCT task_id AS id, task_kind AS kind, task_state AS state, task_blocked_by AS blocked_by, task_concurrency_key AS concurrency_key,
                    task_held AS held, task_cancel_requested_at AS cancel_requested_at, task_started_at AS started_at, task_outcome AS outcome
               FROM started)`,
           // The started jobs alone decide: one running job makes its task running (or cancelling),
           // whatever the others are. Joining every job of the tasks to "started" instead cost a
           // nested loop over both (500 × 500 rows for a full batch: 90 ms).
           `(SELECT task_id, state FROM started)`,
         )}
         SELECT ${JOB_ROW}, j.id IN (SELECT id FROM started) AS moved FROM locked j`,
      [refs.map((r) => r.jobId), refs.map((r) => r.agentId), refs.map((r) => r.attempt), leaseSeconds],
    );
    const { rows: before, moved } = splitMoved(rows);
    return { rows: before, started: moved };
  }

  /**
   * Ends jobs their agents reported on, for a batch, in one statement: each job is locked after
   * its task (as `lockJobs` does), and ends with the outcome reported if the report is about its
   * current attempt, its whole log is stored (`logChunks`), and it is in a state it may end from
   * (held by its agent, and allowed into the outcome by the table). A result is kept only for the
   * job's own kind; its secrets go, as no more output comes. Returns every job reported on that is
   * its agent's, as it was before (a job that is not its agent's is not there), and which ended now.
   * The caller settles their tasks in the same transaction.
   */
  async finish(em: EntityManager, reports: JobReport[]): Promise<{ rows: Map<string, JobRow>; ended: Set<string> }> {
    if (!reports.length) return { rows: new Map(), ended: new Set() };
    const rows = await this.sql.queryIn<MovedRow>(
      em,
      'corral_finish_jobs',
      `WITH r AS (
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::jsonb[], $9::int[])
                    AS r(id, agent_id, attempt, state, exit_code, signal, message, result, log_chunks)
       ), locked AS (
         SELECT j.* FROM tasks t JOIN jobs j ON j.task_id = t.id JOIN (SELECT DISTINCT id, agent_id FROM r) mine ON j.id = mine.id AND j.agent_id = mine.agent_id
          ORDER BY t.id, j.id
            FOR UPDATE OF t, j
       ), ended AS (
         UPDATE jobs SET state = r.state, exit_code = r.exit_code, signal = r.signal, message = r.message,
                result = CASE WHEN r.result ->> 'kind' = jobs.kind THEN r.result END,
                finished_at = now(), lease_expires_at = NULL, secrets = '{}'
           FROM locked l JOIN r ON r.id = l.id
          WHERE jobs.id = l.id AND jobs.attempt = r.attempt AND jobs.next_log_seq >= r.log_chunks AND ${FINISH_ALLOWED}
         RETURNING jobs.id
       )
       SELECT ${JOB_ROW}, j.id IN (SELECT id FROM ended) AS moved FROM locked j`,
      [
        reports.map((e) => e.id),
        reports.map((e) => e.agentId),
        reports.map((e) => e.attempt),
        reports.map((e) => e.state),
        reports.map((e) => e.exitCode),
        reports.map((e) => e.signal),
        reports.map((e) => e.message),
        reports.map((e) => (e.result ? JSON.stringify(e.result) : null)),
        reports.map((e) => e.logChunks),
      ],
    );
    const { rows: before, moved } = splitMoved(rows);
    return { rows: before, ended: moved };
  }

  /** Ends one job from one of `from` (each must be allowed into `state` by the table); false when it was elsewhere (a lost race). */
  async end(em: EntityManager, jobId: string, attempt: number, from: readonly JobState[], state: JobState, message: string): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = $3, message = $4, finished_at = now(), lease_expires_at = NULL, secrets = '{}'
        WHERE id = $1 AND attempt = $2 AND state IN ${statesInto(state, from)} RETURNING id`,
      [jobId, attempt, state, message],
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
        WHERE jobs.id = r.id AND jobs.attempt = r.attempt AND jobs.agent_id = r.agent_id AND (jobs.state = 'running' OR jobs.state IN ${RENEW_FROM})
       RETURNING jobs.id, jobs.attempt, jobs.cancel_requested_at IS NOT NULL AS "cancelRequested"`,
      [reported.map((j) => j.jobId), reported.map((j) => j.attempt), reported.map((j) => j.agentId), leaseSeconds],
      'lazy',
    );
  }

  /** The agent will not take the offer now: back to the queue, not offered again for `delaySeconds`. */
  async requeueOffer(em: EntityManager, jobId: string, attempt: number, delaySeconds: number): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = 'queued', offered_at = NULL, offered_by_node = NULL, lease_expires_at = NULL, available_at = now() + make_interval(secs => $3)
        WHERE id = $1 AND attempt = $2 AND state IN ${REQUEUE_OFFER_FROM} RETURNING id`,
      [jobId, attempt, delaySeconds],
    );
    return rowsOf(result).length > 0;
  }

  /** Offers nobody accepted in time go back to the queue. Returns the agents to offer them again. */
  async expireOffers(): Promise<string[]> {
    // One agent id per lapsed offer (the caller counts them), possibly repeated.
    const result = await this.dataSource.query(
      `UPDATE jobs SET state = 'queued', offered_at = NULL, offered_by_node = NULL, lease_expires_at = NULL
        WHERE id IN (SELECT id FROM jobs WHERE state IN ${REQUEUE_OFFER_FROM} AND lease_expires_at < now() LIMIT 1000 FOR UPDATE SKIP LOCKED)
       RETURNING agent_id AS "agentId"`,
    );
    return rowsOf<{ agentId: string }>(result).map((r) => r.agentId);
  }

  /**
   * After an outage of every node, running jobs' leases lapsed while no node could hear their
   * agents; they get one lease from now to renew it, as a job does on a node that lives. A node
   * that was up before this one (alive, and for longer than `deadAfterSeconds`) means there was
   * no outage: its sweeps already judged the leases. Returns how many jobs got the grace.
   */
  async graceLeasesAfterOutage(nodeId: string, leaseSeconds: number, deadAfterSeconds: number): Promise<number> {
    const result = await this.dataSource.query(
      `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $2)
        WHERE state = 'running' AND lease_expires_at < now() + make_interval(secs => $2)
          AND NOT EXISTS (SELECT 1 FROM server_nodes
                           WHERE id <> $1 AND stopped_at IS NULL
                             AND last_seen_at >= now() - make_interval(secs => $3) AND started_at < now() - make_interval(secs => $3))
       RETURNING 1`,
      [nodeId, leaseSeconds, deadAfterSeconds],
    );
    return rowsOf(result).length;
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
    return this.dataSource.query(`SELECT id, agent_id AS "agentId" FROM jobs WHERE state = 'queued' AND ready AND queued_at < now() - make_interval(secs => $1) ORDER BY queued_at LIMIT $2`, [
      timeoutSeconds,
      limit,
    ]);
  }

  /** A lapsed lease on an idempotent task: run it again as the next attempt, with a fresh log. */
  async retry(em: EntityManager, jobId: string, message: string): Promise<boolean> {
    const result = await em.query(
      `UPDATE jobs SET state = 'queued', attempt = attempt + 1, queued_at = now(), available_at = now(), offered_at = NULL, offered_by_node = NULL,
              lease_expires_at = NULL, started_at = NULL, next_log_seq = 0, log_bytes = 0, log_truncated = false, mask_carry = '{}'::jsonb, message = $2
        WHERE id = $1 AND state IN ${RETRY_FROM} AND lease_expires_at < now() RETURNING id`,
      [jobId, message],
    );
    return rowsOf(result).length > 0;
  }

  /** A lapsed lease: nobody knows whether the job finished, so it is not retried. */
  async markLost(em: EntityManager, jobId: string, message: string): Promise<boolean> {
    const result = await em.query(`UPDATE jobs SET state = 'unknown', message = $2, lease_expires_at = NULL WHERE id = $1 AND state IN ${LOSE_FROM} AND lease_expires_at < now() RETURNING id`, [
      jobId,
      message,
    ]);
    return rowsOf(result).length > 0;
  }

  /** Cancels what has not started and flags what runs; returns the jobs cancelled and the running ones whose agents must be told. */
  async cancelForTask(em: EntityManager, organizationId: string, taskId: string, message: string): Promise<{ cancelled: Pick<JobRow, 'id' | 'kind'>[]; running: CancelRow[] }> {
    const cancelled = await em.query(
      `UPDATE jobs SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL, secrets = '{}', message = $3
        WHERE organization_id = $1 AND task_id = $2 AND state IN ${CANCEL_FROM} RETURNING id, kind`,
      [organizationId, taskId, message],
    );
    const running = await em.query(
      `UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now())
        WHERE organization_id = $1 AND task_id = $2 AND state = 'running' RETURNING id, attempt, agent_id AS "agentId"`,
      [organizationId, taskId],
    );
    return { cancelled: rowsOf<Pick<JobRow, 'id' | 'kind'>>(cancelled), running: rowsOf<CancelRow>(running) };
  }

  /** Jobs that just ended, with what their agents reported, for the task-finished hooks. */
  findFinished(em: EntityManager, jobIds: string[]): Promise<FinishedJob[]> {
    if (!jobIds.length) return Promise.resolve([]);
    return em.query(
      `SELECT id, task_id AS "taskId", organization_id AS "organizationId", agent_id AS "agentId", kind, state, message, result, finished_at AS "finishedAt"
         FROM jobs WHERE id = ANY ($1::uuid[])`,
      [jobIds],
    );
  }

  /** When these jobs started and ended, and how, for modules that show their own view of them. */
  times(organizationId: string, jobIds: string[]): Promise<{ id: string; state: JobState; attempt: number; exitCode: number | null; startedAt: Date | null; finishedAt: Date | null }[]> {
    if (!jobIds.length) return Promise.resolve([]);
    return this.dataSource.query(
      `SELECT id, state, attempt, exit_code AS "exitCode", started_at AS "startedAt", finished_at AS "finishedAt" FROM jobs WHERE organization_id = $1 AND id = ANY ($2::uuid[])`,
      [organizationId, jobIds],
    );
  }

  async isInTask(organizationId: string, jobId: string, taskId: string): Promise<boolean> {
    return (await this.dataSource.query(`SELECT 1 FROM jobs WHERE organization_id = $1 AND id = $2 AND task_id = $3`, [organizationId, jobId, taskId])).length > 0;
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
