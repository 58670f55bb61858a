import type { ScriptSyntax } from '../protocol/messages';
import type { Task } from './task.entity';
import type { JobWithAgent } from './tasks.repository';

/** What the API shows of a job. */
export function jobView(j: JobWithAgent) {
  return {
    id: j.id,
    agentId: j.agentId,
    agentName: j.agentName,
    state: j.state,
    attempt: j.attempt,
    exitCode: j.exitCode,
    signal: j.signal,
    message: j.message,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    cancelRequestedAt: j.cancelRequestedAt,
    logTruncated: j.logTruncated,
  };
}

/** What the API shows of a task: its jobs, and what it waits for while queued behind another. */
export function taskView(t: Task, jobs: JobWithAgent[], blocker: Pick<Task, 'id' | 'name' | 'state'> | null | undefined) {
  return {
    id: t.id,
    name: t.name,
    kind: t.kind,
    state: t.state,
    script: (t.spec.script as { syntax: ScriptSyntax; body: string } | undefined) ?? null,
    timeoutSeconds: t.timeoutSeconds,
    concurrencyKey: t.concurrencyKey,
    idempotent: t.idempotent,
    maxAttempts: t.maxAttempts,
    createdBy: t.createdByLabel,
    createdAt: t.createdAt,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    cancelRequestedAt: t.cancelRequestedAt,
    cancelRequestedBy: t.cancelRequestedBy,
    waitingFor: blocker
      ? {
          taskId: blocker.id,
          taskName: blocker.name,
          taskState: blocker.state,
          reason:
            blocker.state === 'queued'
              ? `queued behind task "${blocker.name}" (also waiting) on concurrency key "${t.concurrencyKey}"`
              : `concurrency key "${t.concurrencyKey}" is held by task "${blocker.name}" (${blocker.state})`,
        }
      : null,
    jobs: jobs.map(jobView),
  };
}

export type TaskView = ReturnType<typeof taskView>;
export type JobView = ReturnType<typeof jobView>;
