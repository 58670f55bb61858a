export const TASK_STATES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const JOB_STATES = ['queued', 'offered', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'unknown'] as const;
export type JobState = (typeof JOB_STATES)[number];

/**
 * Where a job may go next. The SQL that moves a row names the expected current state, so a
 * race loses cleanly. `unknown` (the lease lapsed) is not final: when the agent turns out to be
 * alive, its heartbeat or its report tells what really happened.
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

export const ACTIVE_JOB_STATES: readonly JobState[] = ['queued', 'offered', 'running'];
export const FINISHED_TASK_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export function isFinishedTask(state: TaskState): boolean {
  return FINISHED_TASK_STATES.includes(state);
}

/**
 * A task's state from its jobs'. While any job is queued, offered or running the task is
 * queued (nothing started yet), running, or cancelling (cancel asked). Once none is, it
 * succeeded only if every job did; any failed or unknown job fails it, a timeout times it
 * out, and a cancel asked for wins over both.
 */
export function deriveTaskState(jobStates: readonly JobState[], cancelRequested: boolean): TaskState {
  const active = jobStates.some((s) => ACTIVE_JOB_STATES.includes(s));
  if (active) {
    if (cancelRequested) return 'cancelling';
    return jobStates.some((s) => s !== 'queued' && s !== 'offered') ? 'running' : 'queued';
  }
  if (cancelRequested && jobStates.some((s) => s === 'cancelled')) return 'cancelled';
  if (jobStates.some((s) => s === 'failed' || s === 'unknown')) return 'failed';
  if (jobStates.some((s) => s === 'timed_out')) return 'timed_out';
  if (jobStates.some((s) => s === 'cancelled')) return 'cancelled';
  return 'succeeded';
}
