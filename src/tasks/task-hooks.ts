import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { FinishedJob } from './jobs.repository';
import type { SettledTask } from './tasks.repository';

/**
 * What a module that queues work of one kind hears about it, always inside the transaction that
 * ended the job or finished the task, whichever path did it (an agent's report, a policy refusal,
 * a lapsed lease, an undeliverable job, a cancel). So an orchestrator can never be bypassed, nor
 * see a half-finished state: if its hook fails, the change it heard of is rolled back with it.
 */
export interface TaskKindHooks {
  /**
   * Jobs of this kind that just stopped being active (ended, or lost with their lease), before
   * their tasks are settled: a hook may add jobs to the task here (the next step of a deployment),
   * and the task then stays active.
   */
  jobsEnded?(em: EntityManager, jobs: FinishedJob[]): Promise<void>;
  /** Tasks of this kind that reached the front of their concurrency key: a held one may add its first jobs now. */
  tasksReady?(em: EntityManager, tasks: { id: string; kind: string }[]): Promise<void>;
  /** Tasks of this kind someone asked to cancel: their unstarted jobs are cancelled, their running ones told to stop; a held one is its module's to conclude. */
  tasksCancelling?(em: EntityManager, tasks: { id: string; kind: string }[]): Promise<void>;
  /** Tasks of this kind that just finished (or, having failed by a lost job, took their real outcome later). */
  tasksFinished?(em: EntityManager, tasks: SettledTask[]): Promise<void>;
}

/** The hooks of each task and job kind; a module registers its own when it starts. */
@Injectable()
export class TaskHooks {
  private readonly byKind = new Map<string, TaskKindHooks>();

  register(kind: string, hooks: TaskKindHooks): void {
    if (this.byKind.has(kind)) throw new Error(`task hooks for kind "${kind}" are registered twice`);
    this.byKind.set(kind, hooks);
  }

  /** Whether this kind listens for ended jobs (if none does, nobody needs them read back). */
  hearsEndedJobs(kind: string): boolean {
    return !!this.byKind.get(kind)?.jobsEnded;
  }

  async jobsEnded(em: EntityManager, jobs: FinishedJob[]): Promise<void> {
    for (const [kind, group] of groupBy(jobs, (j) => j.kind)) await this.byKind.get(kind)?.jobsEnded?.(em, group);
  }

  async tasksReady(em: EntityManager, tasks: { id: string; kind: string }[]): Promise<void> {
    for (const [kind, group] of groupBy(tasks, (t) => t.kind)) await this.byKind.get(kind)?.tasksReady?.(em, group);
  }

  async tasksCancelling(em: EntityManager, tasks: { id: string; kind: string }[]): Promise<void> {
    for (const [kind, group] of groupBy(tasks, (t) => t.kind)) await this.byKind.get(kind)?.tasksCancelling?.(em, group);
  }

  async tasksFinished(em: EntityManager, tasks: SettledTask[]): Promise<void> {
    for (const [kind, group] of groupBy(tasks, (t) => t.kind)) await this.byKind.get(kind)?.tasksFinished?.(em, group);
  }
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}
