import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Actor, actorLabel } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { retryOnDeadlock } from '../database/sql';
import type { CreateTaskDto } from './dto/create-task.dto';
import type { ListTasksQuery } from './dto/list-tasks.dto';
import { TaskQueue } from './task-queue.service';
import { Task } from './task.entity';
import { taskView } from './task.view';
import { TasksRepository } from './tasks.repository';

const DEFAULT_TIMEOUT_SECONDS = 3600;

@Injectable()
export class TasksService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tasks: TasksRepository,
    private readonly queue: TaskQueue,
    private readonly audit: AuditService,
  ) {}

  /** Queues one script job per target; every target must be an approved agent whose local policy allows scripts. */
  async create(actor: Actor, body: CreateTaskDto) {
    const name = body.name ?? `${body.script.syntax} script`;
    const script = { syntax: body.script.syntax, body: body.script.body };
    const details = { name, agents: body.targets.agentIds, concurrencyKey: body.concurrencyKey ?? null };
    const { task, jobs, blocker } = await this.queue.submit(
      actor.organizationId,
      {
        kind: 'script',
        name,
        createdBy: { userId: actor.userId, label: actorLabel(actor) },
        timeoutSeconds: body.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
        concurrencyKey: body.concurrencyKey,
        idempotent: body.idempotent,
        maxAttempts: body.maxAttempts,
        spec: { script },
        jobs: body.targets.agentIds.map((agentId) => ({ agentId, payload: { kind: 'script', payloadVersion: 1, script }, secrets: body.sensitiveValues })),
      },
      this.audit.eventFor(actor, 'task.created', undefined, details),
    );
    return taskView(task, jobs, blocker);
  }

  async list(actor: Actor, query: ListTasksQuery) {
    const limit = query.limit ?? 50;
    const tasks = await this.tasks.listForOrganization(actor.organizationId, { state: query.state, agentId: query.agentId, nodeId: query.nodeId, before: query.before, limit });
    const views = await this.views(actor.organizationId, tasks);
    return { items: views, nextBefore: tasks.length === limit ? tasks[tasks.length - 1].id : null };
  }

  async get(actor: Actor, id: string) {
    const task = await this.tasks.findInOrganization(actor.organizationId, id);
    if (!task) throw new NotFoundException('task', id);
    return (await this.views(actor.organizationId, [task]))[0];
  }

  /** Cancels what has not started (it never will) and asks agents to stop what runs. */
  async cancel(actor: Actor, id: string) {
    await retryOnDeadlock(() =>
      this.dataSource.transaction(async (em) => {
        const task = await this.queue.cancel(em, actor.organizationId, id, actorLabel(actor));
        if (!task) throw new NotFoundException('task', id);
        await this.audit.record(actor, 'task.cancelled', { type: 'task', id }, { name: task.name }, em);
      }),
    );
    return this.get(actor, id);
  }

  private async views(organizationId: string, tasks: Task[]) {
    const jobs = await this.tasks.jobsOfTasks(
      organizationId,
      tasks.map((t) => t.id),
    );
    const blockers = new Map(
      (
        await this.tasks.findNames(
          organizationId,
          tasks.flatMap((t) => (t.blockedBy ? [t.blockedBy] : [])),
        )
      ).map((b) => [b.id, b]),
    );
    return tasks.map((t) =>
      taskView(
        t,
        jobs.filter((j) => j.taskId === t.id),
        t.blockedBy ? blockers.get(t.blockedBy) : undefined,
      ),
    );
  }
}
