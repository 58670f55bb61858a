import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { taskDuration, tasksFinished } from '../metrics/metrics';
import { metricsLog } from '../metrics/metrics-log';
import { type JobRow, JobsRepository } from './jobs.repository';
import { TaskHooks } from './task-hooks';
import { isFinishedTask } from './task-states';
import { type SettledTask, TasksRepository } from './tasks.repository';

/** What changed in one transaction, announced with it. */
export class Announcements {
  readonly tasks = new Set<string>();
  readonly agents = new Set<string>();
  /** Agents with running jobs whose cancellation was just asked for. */
  readonly cancels = new Set<string>();
}

/**
 * Keeps tasks in step with their jobs: every path that moves jobs calls `settle` in the same
 * transaction (with the jobs that stopped being active), which runs the kinds' hooks, derives the
 * tasks' states and hands concurrency keys on; `announce` then tells followers and other nodes.
 */
@Injectable()
export class TaskProgress {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly jobs: JobsRepository,
    private readonly hooks: TaskHooks,
    private readonly events: ClusterEventsService,
  ) {}

  async settle(em: EntityManager, taskIds: Iterable<string>, ended: Pick<JobRow, 'id' | 'kind'>[], out: Announcements): Promise<SettledTask[]> {
    const heard = ended.filter((j) => this.hooks.hearsEndedJobs(j.kind)).map((j) => j.id);
    if (heard.length) await this.hooks.jobsEnded(em, await this.jobs.findFinished(em, heard));
    const ids = [...new Set(taskIds)];
    for (const id of ids) out.tasks.add(id);
    const settled = await this.tasks.settle(em, ids);
    const finished = settled.filter((t) => t.finished);
    // Counted as it settles: a transaction retried after a deadlock may count one twice (rare; metrics, not records).
    const justFinished = finished.filter((t) => !isFinishedTask(t.from));
    for (const task of justFinished) {
      tasksFinished.inc({ kind: task.kind, state: task.state });
      taskDuration.observe({ kind: task.kind, state: task.state }, task.ageSeconds);
    }
    if (metricsLog.enabled && justFinished.length) {
      const lines = await this.tasks.finishedSummaries(
        em,
        justFinished.map((t) => t.id),
      );
      for (const line of lines) metricsLog.task(line);
    }
    const released: { id: string; kind: string }[] = [];
    for (const task of finished) if (task.keyed && !isFinishedTask(task.from)) released.push(...(await this.tasks.handOver(em, task)));
    for (const agentId of await this.jobs.release(
      em,
      released.map((t) => t.id),
    ))
      out.agents.add(agentId);
    if (released.length) await this.hooks.tasksReady(em, released);
    if (finished.length) await this.hooks.tasksFinished(em, finished);
    return settled;
  }

  /** One NOTIFY statement for everything; inside the transaction, it is delivered on commit. */
  async announce(out: Announcements, em?: EntityManager): Promise<void> {
    await this.events.publishAll([...ClusterEventsService.jobsReady(out.agents), ...ClusterEventsService.jobsReady(out.cancels, true), ...ClusterEventsService.tasksChanged(out.tasks)], em);
  }

  /**
   * After a hot path's commit: work for agents at once (a lost notification is caught by the
   * re-query backstop), task changes a moment later in one notification with others (live
   * followers wait for output, and every notifying commit takes PostgreSQL's one notify lock).
   */
  async announceAfterCommit(out: Announcements): Promise<void> {
    this.events.tasksChanged(out.tasks);
    if (!out.agents.size && !out.cancels.size) return;
    await this.events.publishAll([...ClusterEventsService.jobsReady(out.agents), ...ClusterEventsService.jobsReady(out.cancels, true)]);
  }
}
