import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { FINISHED_TASK_STATES, type JobState, type TaskState } from '../../src/tasks/task-states';
import { type CreatedTask, expectedEnd, RUN_RECORD, shapeOf } from './soak-workload';

// ------------------------------------------------------------------------------------------------
// What the checker reads: the database, the agents' run files and their ledgers
// ------------------------------------------------------------------------------------------------

export interface JobRecord {
  id: string;
  taskId: string;
  agentId: string;
  state: JobState;
  attempt: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  leaseExpiresAt: Date | null;
  exitCode: number | null;
  signal: string | null;
  message: string | null;
}

export interface TaskRecord {
  id: string;
  name: string;
  state: TaskState;
  idempotent: boolean;
  maxAttempts: number;
}

/** One process start, as the job's script recorded it in its agent's file. */
export interface RunRecord {
  /** The agent whose file holds it. */
  fileAgentId: string;
  jobId: string;
  attempt: number;
  /** The agent the job's environment named. */
  agentId: string;
  atMs: number;
}

/** An agent's ledger entry for a job (it keeps the latest attempt only). */
export interface LedgerRecord {
  agentId: string;
  jobId: string;
  attempt: number;
  state: string;
  outcome: string | null;
}

export interface Revocation {
  agentId: string;
  name: string;
  /** Before the request was sent, and once its answer (the change committed) arrived. */
  requestedAt: number;
  answeredAt: number;
}

export interface History {
  tasks: TaskRecord[];
  jobs: JobRecord[];
  runs: RunRecord[];
  /** Lines of run files that are not a run record. */
  malformed: string[];
  ledgers: LedgerRecord[];
  created: CreatedTask[];
  revocation: Revocation | undefined;
}

export interface SoakAgentFiles {
  name: string;
  agentId: string;
  stateDir: string;
}

/** Reads everything the checker judges, once the soak is over and everything is quiet. */
export async function readHistory(pg: Pool, organizationId: string, runsDir: string, agents: SoakAgentFiles[], created: CreatedTask[], revocation: Revocation | undefined): Promise<History> {
  const tasks = await pg.query<TaskRecord>(`SELECT id, name, state, idempotent, max_attempts AS "maxAttempts" FROM tasks WHERE organization_id = $1`, [organizationId]);
  const jobs = await pg.query<JobRecord>(
    `SELECT id, task_id AS "taskId", agent_id AS "agentId", state, attempt, started_at AS "startedAt", finished_at AS "finishedAt",
            lease_expires_at AS "leaseExpiresAt", exit_code AS "exitCode", signal, message
       FROM jobs WHERE organization_id = $1`,
    [organizationId],
  );
  const { runs, malformed } = readRuns(runsDir, agents);
  return { tasks: tasks.rows, jobs: jobs.rows, runs, malformed, ledgers: agents.flatMap(readLedger), created, revocation };
}

function readRuns(runsDir: string, agents: SoakAgentFiles[]): { runs: RunRecord[]; malformed: string[] } {
  const runs: RunRecord[] = [];
  const malformed: string[] = [];
  for (const agent of agents) {
    const file = join(runsDir, `${agent.name}.runs`);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      const m = RUN_RECORD.exec(line);
      if (!m) malformed.push(`${agent.name}.runs: ${JSON.stringify(line)}`);
      else runs.push({ fileAgentId: agent.agentId, jobId: m[1], attempt: Number(m[2]), agentId: m[3], atMs: Number(m[4]) / 1000 });
    }
  }
  return { runs, malformed };
}

/** Pending ledger entries only matter as a state; a half-written entry is left to the agent (it never runs such a job). */
export function readLedger(agent: SoakAgentFiles): LedgerRecord[] {
  const dir = join(agent.stateDir, 'jobs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    try {
      const entry = JSON.parse(readFileSync(join(dir, name, 'entry.json'), 'utf8'));
      return [{ agentId: agent.agentId, jobId: entry.jobId, attempt: entry.attempt, state: entry.state, outcome: entry.finish?.outcome ?? null }];
    } catch {
      return [];
    }
  });
}

// ------------------------------------------------------------------------------------------------
// The rules
// ------------------------------------------------------------------------------------------------

export const ANOMALY_RULES = {
  'not-terminal': 'a job or task did not reach a terminal state',
  'lease-leaked': 'a job that ended still holds a lease, or lacks its end time',
  'task-state': "a task's state disagrees with its jobs'",
  'task-lost': 'a task the API acknowledged (201) is missing, or its jobs are not one per target',
  'ran-twice': 'one attempt started two processes, or a non-idempotent job started more than once',
  'retried-not-idempotent': 'a job ran again as a new attempt although its task is not idempotent, or beyond maxAttempts',
  'ran-unconfirmed': 'a process started that the control plane never confirmed (no such job or attempt, another agent, no start recorded, or before it)',
  'outcome-wrong': 'a recorded outcome contradicts what the script did (succeeded without running, or ended otherwise than the script does)',
  'agent-disagrees': "an agent's ledger disagrees with the control plane about a job it ended, or still holds one",
  'revoked-ran': 'a job started on a revoked agent after its revocation took effect',
  'not-delivered': 'a job for an agent that was never away for long failed undelivered (JOB_DELIVERY_TIMEOUT_SECONDS)',
  'malformed-run': 'a run file holds a line that is not a run record',
  'process-exited': 'a node or agent exited although the soak did not kill it',
  'revoked-kept-running': 'a revoked agent did not stop',
  'probe-failed': 'after the soak, an agent did not run a new job',
  'agent-offline': 'after the soak, an agent that runs and says it is connected shows offline in the API',
} as const;
export type AnomalyRule = keyof typeof ANOMALY_RULES;

export interface Anomaly {
  rule: AnomalyRule;
  detail: string;
  jobId?: string;
  /** The job's whole story: its row, its task, the processes it started, its agent's ledger entry. */
  evidence?: unknown;
}

const ACTIVE: readonly JobState[] = ['queued', 'offered', 'running'];
const ENDED: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];
/** A process is spawned only after the control plane's start; the record's clock and PostgreSQL's are the same host's. */
const CLOCK_SLACK_MS = 1_000;
/** A start confirmed just before a revocation may spawn its process just after: by this much at most. */
const START_LAG_MS = 5_000;

/**
 * Judges the history. What "ran twice" means follows the engine's promise (docs/engine.md,
 * README "Leases"): delivery is at-least-once, starts are effectively-once. So each attempt of a
 * job (job id, attempt) starts at most one process, always; a job of a task that is not
 * idempotent has one attempt and so at most one process ever; a job of an idempotent task may
 * run again as attempt 2, 3… (up to maxAttempts) after its lease lapsed, on its own agent, and
 * that is not running twice. A job whose lease lapsed without a retry ends `unknown`, which is
 * terminal here: the engine leaves it for a human, and never runs it again.
 */
export function checkHistory(h: History): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const tasks = new Map(h.tasks.map((t) => [t.id, t]));
  const jobs = new Map(h.jobs.map((j) => [j.id, j]));
  const runsOf = groupBy(h.runs, (r) => r.jobId);
  const jobsOf = groupBy(h.jobs, (j) => j.taskId);
  const ledgerOf = new Map(h.ledgers.map((l) => [`${l.agentId}:${l.jobId}`, l]));
  const story = (job: JobRecord) => ({ job, task: tasks.get(job.taskId), runs: runsOf.get(job.id) ?? [], ledger: ledgerOf.get(`${job.agentId}:${job.id}`) ?? null });
  const add = (rule: AnomalyRule, detail: string, job?: JobRecord) => anomalies.push({ rule, detail, ...(job ? { jobId: job.id, evidence: story(job) } : {}) });

  for (const job of h.jobs) {
    const task = tasks.get(job.taskId)!;
    const runs = runsOf.get(job.id) ?? [];
    checkTerminal(job, add);
    checkAttempts(job, task, add);
    checkRuns(job, task, runs, add);
    checkOutcome(job, task, runs, add);
    // No fault keeps a live agent away for anywhere near the delivery timeout; the revoked one is meant to leave its jobs undelivered.
    if (endingOf(job) === 'failed: never delivered' && job.agentId !== h.revocation?.agentId) add('not-delivered', `job ${job.id} failed undelivered: ${job.message}`, job);
    const ledger = ledgerOf.get(`${job.agentId}:${job.id}`);
    if (ledger && job.agentId !== h.revocation?.agentId) checkLedger(job, ledger, add);
  }
  for (const task of h.tasks) checkTaskState(task, jobsOf.get(task.id) ?? [], add);
  for (const run of h.runs) if (!jobs.has(run.jobId)) add('ran-unconfirmed', `a process started for job ${run.jobId}, which does not exist`);
  for (const line of h.malformed) add('malformed-run', line);
  checkCreated(h.created, tasks, jobsOf, add);
  if (h.revocation) checkRevocation(h.revocation, h.jobs, runsOf, add);
  return anomalies;
}

type Add = (rule: AnomalyRule, detail: string, job?: JobRecord) => void;

function checkTerminal(job: JobRecord, add: Add) {
  if (ACTIVE.includes(job.state)) return add('not-terminal', `job ${job.id} is still ${job.state}`, job);
  if (job.leaseExpiresAt) add('lease-leaked', `job ${job.id} is ${job.state} but holds a lease until ${job.leaseExpiresAt.toISOString()}`, job);
  if (ENDED.includes(job.state) && !job.finishedAt) add('lease-leaked', `job ${job.id} is ${job.state} but has no end time`, job);
}

function checkAttempts(job: JobRecord, task: TaskRecord, add: Add) {
  if (job.attempt > 1 && !task.idempotent) add('retried-not-idempotent', `job ${job.id} of a non-idempotent task is at attempt ${job.attempt}`, job);
  if (job.attempt > task.maxAttempts) add('retried-not-idempotent', `job ${job.id} is at attempt ${job.attempt}, beyond maxAttempts ${task.maxAttempts}`, job);
}

function checkRuns(job: JobRecord, task: TaskRecord, runs: RunRecord[], add: Add) {
  for (const [attempt, starts] of groupBy(runs, (r) => r.attempt)) if (starts.length > 1) add('ran-twice', `attempt ${attempt} of job ${job.id} started ${starts.length} processes`, job);
  const attempts = new Set(runs.map((r) => r.attempt));
  if (!task.idempotent && attempts.size > 1) add('ran-twice', `job ${job.id} of a non-idempotent task started ${runs.length} processes (attempts ${[...attempts].join(', ')})`, job);
  for (const run of runs) {
    if (run.agentId !== job.agentId || run.fileAgentId !== job.agentId)
      add('ran-unconfirmed', `job ${job.id} of agent ${job.agentId} ran on agent ${run.fileAgentId} (its environment said ${run.agentId})`, job);
    if (run.attempt > job.attempt) add('ran-unconfirmed', `job ${job.id} ran as attempt ${run.attempt}, which the control plane never made (it is at ${job.attempt})`, job);
    if (run.attempt !== job.attempt) continue;
    // The current attempt's start is on the row; earlier attempts' starts were reset by their retry.
    if (!job.startedAt) add('ran-unconfirmed', `job ${job.id} attempt ${run.attempt} ran, but the control plane never recorded its start`, job);
    else if (run.atMs < job.startedAt.getTime() - CLOCK_SLACK_MS)
      add('ran-unconfirmed', `job ${job.id} attempt ${run.attempt} ran ${Math.round(job.startedAt.getTime() - run.atMs)} ms before its start was confirmed`, job);
  }
}

function checkOutcome(job: JobRecord, task: TaskRecord, runs: RunRecord[], add: Add) {
  if (ACTIVE.includes(job.state)) return; // not-terminal says it already
  const ranNow = runs.some((r) => r.attempt === job.attempt);
  const exited = job.state === 'succeeded' || job.state === 'timed_out' || job.exitCode !== null;
  if (exited && !ranNow) add('outcome-wrong', `job ${job.id} is ${job.state}${job.exitCode !== null ? ` (exit ${job.exitCode})` : ''}, but attempt ${job.attempt} never started a process`, job);
  const shape = shapeOf(task.name);
  if (!shape) return;
  const expected = expectedEnd(shape);
  const ranToItsEnd = job.state === 'succeeded' || job.state === 'timed_out' || (job.state === 'failed' && job.exitCode !== null);
  const asExpected = job.state === expected && (expected !== 'failed' || job.exitCode === 3);
  if (ranToItsEnd && !asExpected)
    add('outcome-wrong', `job ${job.id} of a "${shape}" task ended ${job.state}${job.exitCode !== null ? ` (exit ${job.exitCode})` : ''}; its script ends ${expected}`, job);
}

function checkLedger(job: JobRecord, entry: LedgerRecord, add: Add) {
  if (entry.attempt > job.attempt)
    return add('agent-disagrees', `the agent's ledger holds attempt ${entry.attempt} of job ${job.id}, which the control plane never made (it is at ${job.attempt})`, job);
  if (entry.attempt < job.attempt) return; // a newer attempt was never offered to it, or not yet taken: nothing to compare
  if ((entry.state === 'reported' || entry.state === 'finished') && entry.outcome !== job.state)
    add('agent-disagrees', `the agent ${entry.state} job ${job.id} attempt ${entry.attempt} as ${entry.outcome}; the control plane says ${job.state}`, job);
  if (entry.state === 'abandoned' && job.state !== 'unknown')
    add('agent-disagrees', `the agent abandoned job ${job.id} attempt ${entry.attempt} (it restarted under it); the control plane says ${job.state}`, job);
  if (entry.state === 'accepted' || entry.state === 'running')
    add('agent-disagrees', `the agent still holds job ${job.id} attempt ${entry.attempt} (${entry.state}); the control plane says ${job.state}`, job);
}

/** As the engine's `settling` derives a task's state (these tasks have no module outcome and no cancel). */
function checkTaskState(task: TaskRecord, mine: JobRecord[], add: Add) {
  if (!FINISHED_TASK_STATES.includes(task.state)) return add('not-terminal', `task ${task.id} (${task.name}) is still ${task.state}`);
  if (mine.some((j) => ACTIVE.includes(j.state))) return; // the job is reported already
  const has = (...states: JobState[]) => mine.some((j) => states.includes(j.state));
  const expected: TaskState = has('failed', 'unknown') ? 'failed' : has('timed_out') ? 'timed_out' : has('cancelled') ? 'cancelled' : 'succeeded';
  if (task.state !== expected) add('task-state', `task ${task.id} (${task.name}) is ${task.state}; its jobs (${mine.map((j) => j.state).join(', ')}) make it ${expected}`);
}

function checkCreated(created: CreatedTask[], tasks: Map<string, TaskRecord>, jobsOf: Map<string, JobRecord[]>, add: Add) {
  for (const c of created) {
    if (!tasks.has(c.id)) {
      add('task-lost', `task ${c.id} was acknowledged with 201 but is not in the database`);
      continue;
    }
    const mine = jobsOf.get(c.id) ?? [];
    const sameAgents = sorted(mine.map((j) => j.agentId)).join() === sorted(c.agentIds).join();
    const sameJobs = sorted(mine.map((j) => j.id)).join() === sorted(c.jobIds).join();
    if (!sameAgents || !sameJobs)
      add(
        'task-lost',
        `task ${c.id} was acknowledged with jobs ${c.jobIds.join(', ')} for agents ${c.agentIds.join(', ')}; the database has ${mine.map((j) => `${j.id} (${j.agentId})`).join(', ') || 'none'}`,
      );
  }
}

/**
 * The revocation takes effect when it commits, somewhere before its answer arrived: a start
 * recorded after the answer was surely after it. A process may start just after the revocation
 * only for a start the control plane confirmed before it (the agent spawns on that confirmation).
 */
function checkRevocation(rev: Revocation, jobs: JobRecord[], runsOf: Map<string, RunRecord[]>, add: Add) {
  for (const job of jobs.filter((j) => j.agentId === rev.agentId)) {
    const started = job.startedAt?.getTime();
    if (started !== undefined && started > rev.answeredAt) add('revoked-ran', `job ${job.id} started on ${rev.name} ${started - rev.answeredAt} ms after its revocation was answered`, job);
    for (const run of runsOf.get(job.id) ?? []) {
      if (run.atMs <= rev.answeredAt) continue;
      const confirmedBefore = run.attempt === job.attempt && started !== undefined && started <= rev.answeredAt && run.atMs - started <= START_LAG_MS;
      if (!confirmedBefore)
        add('revoked-ran', `job ${job.id} attempt ${run.attempt} started a process on ${rev.name} ${Math.round(run.atMs - rev.answeredAt)} ms after its revocation was answered`, job);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The figures of the summary
// ------------------------------------------------------------------------------------------------

/** How a job ended, in the words of the summary: its state, and for a failure why. */
export function endingOf(job: JobRecord): string {
  if (job.state !== 'failed') return job.state;
  if (job.exitCode !== null) return 'failed: exit code';
  if (/JOB_DELIVERY_TIMEOUT_SECONDS/.test(job.message ?? '')) return 'failed: never delivered';
  if (/refused the job|could not run the job/.test(job.message ?? '')) return 'failed: refused by the agent';
  return 'failed: other';
}

export function figures(h: History) {
  const acknowledged = new Set(h.created.map((c) => c.id));
  return {
    tasks: {
      acknowledged: h.created.length,
      // Created although their 201 never arrived (a node or the database died under the request): not lost, just unconfirmed.
      unconfirmed: h.tasks.filter((t) => !acknowledged.has(t.id)).length,
      byState: countBy(h.tasks, (t) => t.state),
    },
    jobs: {
      total: h.jobs.length,
      retried: h.jobs.filter((j) => j.attempt > 1).length,
      byState: countBy(h.jobs, (j) => j.state),
      byEnding: countBy(h.jobs, endingOf),
      // Lost with their lease and not run again: why, in the engine's words.
      unknown: h.jobs.filter((j) => j.state === 'unknown').map((j) => ({ jobId: j.id, agentId: j.agentId, attempt: j.attempt, message: j.message })),
    },
    processesStarted: h.runs.length,
    ledgerEntries: countBy(h.ledgers, (l) => l.state),
  };
}

function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function sorted(values: string[]): string[] {
  return [...values].sort();
}
