export const TASK_STATES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const JOB_STATES = ['queued', 'offered', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'unknown'] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * Where a job may go next: the authority for every statement that moves one (see `statesInto`).
 * `unknown` (the lease lapsed) is not final: when the agent turns out to be alive, its heartbeat
 * or its report tells what really happened. An offered job can fail (refused by its host's policy)
 * or be cancelled (before it started), but never succeed or time out: it did not run.
 */
export const JOB_TRANSITIONS: Record<JobState, readonly JobState[]> = {
  queued: ['offered', 'cancelled', 'failed'],
  offered: ['running', 'queued', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'timed_out', 'cancelled', 'unknown', 'queued'],
  unknown: ['running', 'succeeded', 'failed', 'timed_out', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

/**
 * Where a task may go next. A task's state is derived from its jobs' (in TasksRepository.settle,
 * the one place that derives it) and moved only along these edges: a finished task never becomes
 * active again, and a queued one starts (running) before any of its jobs can end on their own. A
 * task that failed because a job's lease lapsed (unknown) takes the real outcome when the agent
 * reports it after all. A held task its module concludes before any job ran (a deployment whose
 * steps were all skipped) may succeed straight from queued.
 */
export const TASK_TRANSITIONS: Record<TaskState, readonly TaskState[]> = {
  queued: ['running', 'cancelling', 'succeeded', 'cancelled', 'failed', 'timed_out'],
  running: ['cancelling', 'succeeded', 'failed', 'timed_out', 'cancelled'],
  cancelling: ['cancelled', 'succeeded', 'failed', 'timed_out'],
  succeeded: [],
  failed: ['succeeded', 'timed_out', 'cancelled'],
  cancelled: [],
  timed_out: [],
};

export const ACTIVE_JOB_STATES = ['queued', 'offered', 'running'] as const satisfies readonly JobState[];
/** States in which an agent holds the job (its reports about it count). */
export const HELD_JOB_STATES = ['offered', 'running', 'unknown'] as const satisfies readonly JobState[];
export const FINISHED_JOB_STATES = ['succeeded', 'failed', 'cancelled', 'timed_out'] as const satisfies readonly JobState[];
export const FINISHED_TASK_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export function isFinishedTask(state: TaskState): boolean {
  return FINISHED_TASK_STATES.includes(state);
}

const literal = (s: string) => `'${s}'`;

/**
 * The states, among `among`, from which a job may move into `to`, as an SQL list for `IN (...)`:
 * statements that move jobs take their from-states from JOB_TRANSITIONS through this (a literal
 * list, so the partial indexes still serve them). Naming a from-state that the table does not
 * allow into `to` throws when the module loads, so a statement can never carry such an edge.
 */
export function statesInto(to: JobState, among: readonly JobState[]): string {
  const bad = among.filter((from) => !JOB_TRANSITIONS[from].includes(to));
  if (bad.length) throw new Error(`no job transition ${bad.join(', ')} → ${to} in JOB_TRANSITIONS`);
  return `(${among.map(literal).join(', ')})`;
}

/**
 * An SQL condition that `state` (the row's current state) may move into `target` (an SQL
 * expression naming a job state per row), restricted to `among` as the from-states: one branch per
 * target state, each listing the from-states the table allows.
 */
export function jobMoveAllowed(state: string, target: string, targets: readonly JobState[], among: readonly JobState[]): string {
  const branches = targets.map((to) => {
    const from = among.filter((s) => JOB_TRANSITIONS[s].includes(to));
    return `WHEN ${literal(to)} THEN ${from.length ? `${state} IN (${from.map(literal).join(', ')})` : 'false'}`;
  });
  return `CASE ${target} ${branches.join(' ')} ELSE false END`;
}

/** The task edges as an SQL list of (from, to) pairs, for `(old, new) IN (...)`: the statement that moves tasks takes them from TASK_TRANSITIONS. */
export function taskEdges(): string {
  const edges = TASK_STATES.flatMap((from) => TASK_TRANSITIONS[from].map((to) => `(${literal(from)}, ${literal(to)})`));
  return `(${edges.join(', ')})`;
}
