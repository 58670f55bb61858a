import { randomBytes } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { ClusterEventsService } from '../../src/cluster/cluster-events.service';
import { CorralLogger } from '../../src/common/logger';
import { dataSourceOptions } from '../../src/database/data-source';
import { rowsOf } from '../../src/database/query-rows';
import { Sql } from '../../src/database/sql';
import type { JobOutcome } from '../../src/protocol/messages';
import { JobLogsRepository } from '../../src/tasks/job-logs.repository';
import { type Claim, type JobEnd, type JobRow, JobsRepository } from '../../src/tasks/jobs.repository';
import { TaskHooks } from '../../src/tasks/task-hooks';
import { Announcements, TaskProgress } from '../../src/tasks/task-progress.service';
import { JOB_TRANSITIONS, type JobState, TASK_TRANSITIONS, type TaskState } from '../../src/tasks/task-states';
import { type SettledTask, type TaskRow, TasksRepository } from '../../src/tasks/tasks.repository';
import { createTestDatabase } from './test-database';

/**
 * "Medium" tests: the task engine's repositories and TaskProgress, built with `new` over a real
 * PostgreSQL database of their own (cloned from the migrated template), without a control-plane
 * node. Every state change of a job or task is recorded by a trigger, so each file can prove its
 * statements moved rows only along JOB_TRANSITIONS and TASK_TRANSITIONS.
 */
export interface Medium {
  url: string;
  dataSource: DataSource;
  sql: Sql;
  jobs: JobsRepository;
  logs: JobLogsRepository;
  tasks: TasksRepository;
  hooks: TaskHooks;
  events: ClusterEventsService;
  progress: TaskProgress;
  close: () => Promise<void>;
}

export const NODE_ID = 'medium-node';
export const OFFER_SECONDS = 30;
export const LEASE_SECONDS = 60;

// The recorder: an AFTER trigger per table, so it sees what each statement really did to each row
// (and is rolled back with it).
const RECORDER = [
  `CREATE TABLE medium_transitions (seq bigserial PRIMARY KEY, tbl text NOT NULL, row_id uuid NOT NULL, old_state text NOT NULL, new_state text NOT NULL)`,
  `CREATE FUNCTION medium_record_transition() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       INSERT INTO medium_transitions (tbl, row_id, old_state, new_state) VALUES (TG_TABLE_NAME, NEW.id, OLD.state, NEW.state);
       RETURN NULL;
     END $$`,
  `CREATE TRIGGER medium_jobs_transitions AFTER UPDATE ON jobs FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION medium_record_transition()`,
  `CREATE TRIGGER medium_tasks_transitions AFTER UPDATE ON tasks FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION medium_record_transition()`,
];

/** A database of its own with the engine built over it; `close` drops it. */
export async function openMedium(poolSize = 10): Promise<Medium> {
  const db = await createTestDatabase();
  const dataSource = new DataSource(dataSourceOptions(db.url, poolSize));
  try {
    await dataSource.initialize();
    for (const statement of RECORDER) await dataSource.query(statement);
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await db.drop();
    throw err;
  }
  const sql = new Sql(dataSource);
  const jobs = new JobsRepository(dataSource, sql);
  const logs = new JobLogsRepository(dataSource);
  const tasks = new TasksRepository(dataSource, sql);
  const hooks = new TaskHooks();
  // The real one: its LISTEN connection opens only in onModuleInit, which nothing here calls, and
  // what TaskProgress.settle uses of it is nothing (announcements are NOTIFYs, harmless here).
  const events = new ClusterEventsService(dataSource, new CorralLogger('warn', 'json', process.stderr));
  const progress = new TaskProgress(tasks, jobs, hooks, events);
  return {
    url: db.url,
    dataSource,
    sql,
    jobs,
    logs,
    tasks,
    hooks,
    events,
    progress,
    close: async () => {
      await events.onApplicationShutdown();
      await sql.onApplicationShutdown();
      await dataSource.destroy();
      await db.drop();
    },
  };
}

// ---- Factories --------------------------------------------------------------------------------

export async function makeOrganization(m: Medium): Promise<string> {
  const slug = `org-${randomBytes(4).toString('hex')}`;
  const [row] = await m.dataSource.query<{ id: string }[]>(`INSERT INTO organizations (name, slug) VALUES ($1, $2) RETURNING id`, [`Org ${slug}`, slug]);
  return row.id;
}

/** An enrolled agent of `organizationId`, approved unless `status` says otherwise. */
export async function makeAgent(m: Medium, organizationId: string, status: 'approved' | 'pending' | 'revoked' = 'approved'): Promise<string> {
  const name = `agent-${randomBytes(4).toString('hex')}`;
  const [row] = await m.dataSource.query<{ id: string }[]>(
    `INSERT INTO agents (organization_id, name, hostname, os, arch, agent_version, public_key, fingerprint, verification_code, status)
     VALUES ($1, $2, $2, 'linux', 'x64', '1.0.0', $3, $4, '000000', $5) RETURNING id`,
    [organizationId, name, randomBytes(32).toString('base64'), randomBytes(8).toString('hex'), status],
  );
  return row.id;
}

export function makeApprovedAgent(m: Medium, organizationId: string): Promise<string> {
  return makeAgent(m, organizationId, 'approved');
}

export interface TaskOptions {
  kind?: string;
  /** The jobs' kind (the task's by default, else script). */
  jobKind?: string;
  concurrencyKey?: string | null;
  blockedBy?: string | null;
  idempotent?: boolean;
  maxAttempts?: number;
  secrets?: string[];
  held?: boolean;
}

/** A task row as TaskQueue builds one: one script job per agent. */
export function taskRow(organizationId: string, agentIds: string[], options: TaskOptions = {}): TaskRow {
  const name = `task-${randomBytes(3).toString('hex')}`;
  const kind = options.kind ?? 'script';
  return {
    organizationId,
    name,
    kind,
    spec: {},
    timeoutSeconds: 300,
    concurrencyKey: options.concurrencyKey ?? null,
    blockedBy: options.blockedBy ?? null,
    idempotent: options.idempotent ?? false,
    maxAttempts: options.maxAttempts ?? 1,
    parentTaskId: null,
    held: options.held ?? false,
    createdBy: null,
    createdByLabel: 'medium test',
    jobs: agentIds.map((agentId) => ({
      agentId,
      name,
      timeoutSeconds: 300,
      kind: options.jobKind ?? (options.kind ? kind : 'script'),
      payload: { payloadVersion: 1, script: { syntax: 'sh', body: 'true' } },
      secrets: options.secrets ?? [],
    })),
  };
}

export interface MadeTask {
  id: string;
  /** The task's jobs in the order of `agentIds`. */
  jobs: { id: string; agentId: string }[];
}

/** Inserts one task through TasksRepository.insertMany, in a transaction of its own (so each task is younger than the last). */
export async function makeTask(m: Medium, organizationId: string, agentIds: string[], options: TaskOptions = {}): Promise<MadeTask> {
  const inserted = await m.dataSource.transaction((em) => m.tasks.insertMany(em, [taskRow(organizationId, agentIds, options)], null));
  const task = inserted.get(0);
  if (!task) throw new Error('insertMany left the task out: are its agents approved agents of the organisation?');
  return { id: task.id, jobs: task.jobs.map((j) => ({ id: j.id, agentId: j.agentId })) };
}

// ---- Driving jobs through the engine's own statements ------------------------------------------

export function claim(m: Medium, requests: { agentId: string; maxJobs: number; cap?: number; runningLimit?: number }[]): Promise<Claim[]> {
  return m.jobs.claimOffers(
    requests.map((r) => ({ cap: r.maxJobs, runningLimit: 1_000_000, ...r })),
    NODE_ID,
    OFFER_SECONDS,
  );
}

/** What an accept batch does, for each job's current attempt: lock, start what is offered, settle the tasks that started. */
export async function accept(m: Medium, jobs: { id: string; agentId: string }[]): Promise<Set<string>> {
  const attempts = new Map(
    rowsOf<{ id: string; attempt: number }>(await m.dataSource.query(`SELECT id, attempt FROM jobs WHERE id = ANY ($1::uuid[])`, [jobs.map((j) => j.id)])).map((r) => [r.id, r.attempt]),
  );
  return (
    await m.jobs.accept(
      jobs.map((j) => ({ jobId: j.id, agentId: j.agentId, attempt: attempts.get(j.id) ?? 1 })),
      LEASE_SECONDS,
    )
  ).started;
}

/** Offers the jobs to their agents and starts them: they are running, attempt 1. */
export async function run(m: Medium, jobs: { id: string; agentId: string }[]): Promise<void> {
  const wanted = new Set(jobs.map((j) => j.id));
  const agents = [...new Set(jobs.map((j) => j.agentId))];
  const claims = await claim(
    m,
    agents.map((agentId) => ({ agentId, maxJobs: 1000 })),
  );
  const offered = claims.flatMap((c) => c.offers.map((o) => o.id));
  for (const id of wanted) if (!offered.includes(id) && (await jobState(m, id)) !== 'offered') throw new Error(`job ${id} was not offered`);
  const started = await accept(m, jobs);
  for (const id of wanted) if (!started.has(id)) throw new Error(`job ${id} did not start`);
}

export function end(id: string, state: JobOutcome, attempt = 1, extra: Partial<JobEnd> = {}): JobEnd {
  return { id, attempt, state, exitCode: state === 'succeeded' ? 0 : null, signal: null, message: null, result: null, ...extra };
}

/** What a finish batch does: lock and end the jobs (their whole log sent), settle their tasks (with the hooks) in one transaction. */
export async function finish(m: Medium, agentId: string, ends: JobEnd[], out = new Announcements()): Promise<{ finished: Set<string>; settled: SettledTask[]; out: Announcements }> {
  return m.dataSource.transaction(async (em) => {
    const { rows, ended } = await m.jobs.finish(
      em,
      ends.map((e) => ({ ...e, agentId, logChunks: 0 })),
    );
    const endedRows = [...ended].map((id) => rows.get(id)!);
    const settled = await m.progress.settle(
      em,
      endedRows.map((r) => r.taskId),
      endedRows,
      out,
    );
    return { finished: ended, settled, out };
  });
}

/** The lease (or offer) ran out a while ago: only the clock moves, not the state. */
export async function lapse(m: Medium, jobIds: string[]): Promise<void> {
  await m.dataSource.query(`UPDATE jobs SET lease_expires_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[]) AND lease_expires_at IS NOT NULL`, [jobIds]);
}

/** What the sweeper does with a lapsed lease: retry an idempotent job, else mark it lost; then settle. */
export async function expireLease(m: Medium, jobId: string): Promise<'retried' | 'lost' | 'untouched'> {
  return m.dataSource.transaction(async (em) => {
    const job = await m.jobs.lockJob(em, jobId);
    if (!job) return 'untouched';
    const [t] = await em.query<{ idempotent: boolean; maxAttempts: number }[]>(`SELECT idempotent, max_attempts AS "maxAttempts" FROM tasks WHERE id = $1`, [job.taskId]);
    const retried = t.idempotent && job.attempt < t.maxAttempts && (await m.jobs.retry(em, jobId, 'lost; retrying'));
    if (!retried && !(await m.jobs.markLost(em, jobId, 'lost'))) return 'untouched';
    await m.progress.settle(em, [job.taskId], retried ? [] : [job], new Announcements());
    return retried ? 'retried' : 'lost';
  });
}

/** Asks for a task's cancel as TasksService does: flag the task, cancel what has not started, settle. */
export async function cancelTask(m: Medium, organizationId: string, taskId: string): Promise<{ cancelled: string[]; running: string[] }> {
  return m.dataSource.transaction(async (em) => {
    await m.tasks.lockInOrganization(em, organizationId, taskId);
    await m.tasks.markCancelRequested(em, organizationId, taskId, 'medium test');
    const { cancelled, running } = await m.jobs.cancelForTask(em, organizationId, taskId, 'cancelled by medium test');
    await m.progress.settle(em, [taskId], cancelled, new Announcements());
    return { cancelled: cancelled.map((c) => c.id), running: running.map((r) => r.id) };
  });
}

/** Settles tasks in a transaction of their own, as any path does after moving their jobs. */
export function settle(m: Medium, taskIds: string[], ended: Pick<JobRow, 'id' | 'kind'>[] = []): Promise<SettledTask[]> {
  return m.dataSource.transaction((em) => m.progress.settle(em, taskIds, ended, new Announcements()));
}

// ---- Reading rows back -------------------------------------------------------------------------

export interface JobSnapshot {
  id: string;
  state: JobState;
  attempt: number;
  ready: boolean;
  exitCode: number | null;
  message: string | null;
  result: Record<string, unknown> | null;
  secrets: string[];
  leaseExpiresAt: Date | null;
  offeredAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  queuedAt: Date | null;
  nextLogSeq: number;
  logBytes: number;
  logTruncated: boolean;
  maskCarry: Record<string, string>;
}

export async function jobRow(m: Medium | EntityManager, id: string): Promise<JobSnapshot> {
  const q = 'dataSource' in m ? m.dataSource : m;
  const [row] = await q.query<JobSnapshot[]>(
    `SELECT id, state, attempt, ready, exit_code AS "exitCode", message, result, secrets, lease_expires_at AS "leaseExpiresAt", offered_at AS "offeredAt",
            started_at AS "startedAt", finished_at AS "finishedAt", queued_at AS "queuedAt", next_log_seq AS "nextLogSeq", log_bytes::int AS "logBytes",
            log_truncated AS "logTruncated", mask_carry AS "maskCarry"
       FROM jobs WHERE id = $1`,
    [id],
  );
  if (!row) throw new Error(`no job ${id}`);
  return row;
}

export async function jobState(m: Medium, id: string): Promise<JobState> {
  return (await jobRow(m, id)).state;
}

export interface TaskSnapshot {
  id: string;
  state: TaskState;
  blockedBy: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export async function taskRowOf(m: Medium, id: string): Promise<TaskSnapshot> {
  const [row] = await m.dataSource.query<TaskSnapshot[]>(`SELECT id, state, blocked_by AS "blockedBy", started_at AS "startedAt", finished_at AS "finishedAt" FROM tasks WHERE id = $1`, [id]);
  if (!row) throw new Error(`no task ${id}`);
  return row;
}

export async function taskState(m: Medium, id: string): Promise<TaskState> {
  return (await taskRowOf(m, id)).state;
}

// ---- The transition audit ----------------------------------------------------------------------

export interface Edge {
  table: 'jobs' | 'tasks';
  from: string;
  to: string;
  count: number;
}

/** Every distinct state change recorded in this database so far. */
export async function recordedEdges(m: Medium): Promise<Edge[]> {
  const rows = await m.dataSource.query<Edge[]>(`SELECT tbl AS "table", old_state AS "from", new_state AS "to", count(*)::int AS count FROM medium_transitions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`);
  return rowsOf<Edge>(rows);
}

/** The recorded changes the transition tables do not allow: none, if every statement names its edges. */
export async function forbiddenEdges(m: Medium): Promise<Edge[]> {
  return (await recordedEdges(m)).filter((e) =>
    e.table === 'jobs' ? !(JOB_TRANSITIONS[e.from as JobState] ?? []).includes(e.to as JobState) : !(TASK_TRANSITIONS[e.from as TaskState] ?? []).includes(e.to as TaskState),
  );
}

/** The recorded state changes of one row, in order. */
export async function historyOf(m: Medium, id: string): Promise<string[]> {
  const rows = await m.dataSource.query<{ old_state: string; new_state: string }[]>(`SELECT old_state, new_state FROM medium_transitions WHERE row_id = $1 ORDER BY seq`, [id]);
  return rows.map((r) => `${r.old_state}→${r.new_state}`);
}

/** Seconds left on a job's lease (or offer), by the database's clock; null when it holds none. */
export async function leaseLeft(m: Medium, id: string): Promise<number | null> {
  const [row] = await m.dataSource.query<{ left: number | null }[]>(`SELECT EXTRACT(epoch FROM lease_expires_at - now())::float8 AS left FROM jobs WHERE id = $1`, [id]);
  return row.left;
}

/** The promise's value, or 'timed out' if it takes longer than `ms` (it keeps running). */
export function within<T>(ms: number, promise: Promise<T>): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Registers, as a file's last test, the check that its statements moved rows only along the transition tables. */
export function itMovedRowsOnlyAlongTheTables(medium: () => Medium): void {
  it('moved jobs and tasks only along JOB_TRANSITIONS and TASK_TRANSITIONS', async () => {
    const edges = await recordedEdges(medium());
    expect(edges.some((e) => e.table === 'jobs')).toBe(true);
    expect(await forbiddenEdges(medium())).toEqual([]);
  });
}
