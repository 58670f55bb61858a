import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ClusterEventsService } from '../agents/cluster-events.service';
import { JobsRepository } from './jobs.repository';
import { type TaskChange, TasksRepository } from './tasks.repository';

/** What changed in one transaction, announced with it. */
export class Announcements {
  readonly tasks = new Set<string>();
  readonly agents = new Set<string>();
  /** Agents with running jobs whose cancellation was just asked for. */
  readonly cancels = new Set<string>();
}

/**
 * Keeps a task in step with its jobs: every job transition is followed by `settle` in the same
 * transaction, and by `announce` after it commits, so followers and other nodes look again.
 */
@Injectable()
export class TaskProgress {
  constructor(
    private readonly tasks: TasksRepository,
    private readonly jobs: JobsRepository,
    private readonly events: ClusterEventsService,
  ) {}

  async settle(em: EntityManager, taskId: string, out: Announcements): Promise<TaskChange> {
    const change = await this.tasks.recompute(em, taskId);
    out.tasks.add(taskId);
    for (const agentId of await this.jobs.release(em, change.released)) out.agents.add(agentId);
    return change;
  }

  /** One NOTIFY statement for everything; inside the transaction, it is delivered on commit. */
  async announce(out: Announcements, em?: EntityManager): Promise<void> {
    await this.events.publishAll(
      [
        ...ClusterEventsService.jobsReady(out.agents),
        ...ClusterEventsService.jobsReady(out.cancels, true),
        ...ClusterEventsService.tasksChanged(out.tasks),
      ],
      em,
    );
  }
}
