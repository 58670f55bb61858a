import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type AgentConnection, AgentConnectionsService } from '../agents/agent-connections.service';
import { AgentsRepository } from '../agents/agents.repository';
import { CLUSTER_CHANNEL } from '../agents/cluster-events.service';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { rolesAtLeast } from '../orgs/roles';
import { policyRefusal } from '../protocol/policy-check';
import type { CreateTaskDto } from './dto/create-task.dto';
import type { ListTasksQuery } from './dto/list-tasks.dto';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { JobDispatchService } from './job-dispatch.service';
import { JobsRepository } from './jobs.repository';
import { Announcements, TaskProgress } from './task-progress.service';
import { isFinishedTask } from './task-states';
import { Job } from './job.entity';
import { Task } from './task.entity';
import { TasksErrorCode, TasksException } from './tasks.exception';
import { type JobWithAgent, TasksRepository } from './tasks.repository';

const DEFAULT_TIMEOUT_SECONDS = 3600;

function actorLabel(actor: Actor): string {
  return actor.type === 'api_key' ? `${actor.apiKeyName} (API key of ${actor.email})` : actor.email;
}

function jobView(j: JobWithAgent) {
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

@Injectable()
export class TasksService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly tasks: TasksRepository,
    private readonly jobs: JobsRepository,
    private readonly progress: TaskProgress,
    private readonly agents: AgentsRepository,
    private readonly connections: AgentConnectionsService,
    private readonly dispatch: JobDispatchService,
    private readonly audit: AuditService,
    @InjectConfig() private readonly config: CorralConfig,
  ) {}

  /** Queues one job per target; every target must be an approved agent whose local policy allows the job. */
  async create(actor: Actor, body: CreateTaskDto) {
    const maxAttempts = body.maxAttempts ?? 1;
    if (maxAttempts > 1 && !body.idempotent)
      throw new TasksException(TasksErrorCode.RETRIES_NEED_IDEMPOTENT, 'maxAttempts above 1 needs "idempotent": true: a job whose agent was lost is only run again when running it twice is safe');
    // Targets on a WebSocket here are known well enough to skip asking first: the one statement
    // that creates a task without a concurrency key checks again that each is an approved agent of
    // the organisation. So does a remembered API key: that statement checks it, and anything that
    // asks the database before it confirms the key first.
    const here = !body.concurrencyKey && this.targetsHere(actor, body.targets.agentIds);
    if (!here && actor.unconfirmed) actor = await actor.unconfirmed.confirm();
    let names = here || (await this.checkTargets(actor, body.targets.agentIds));

    const fields = {
      organizationId: actor.organizationId,
      name: body.name ?? `${body.script.syntax} script`,
      kind: 'script' as const,
      state: 'queued' as const,
      scriptSyntax: body.script.syntax,
      scriptBody: body.script.body,
      timeoutSeconds: body.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      concurrencyKey: body.concurrencyKey ?? null,
      blockedBy: null,
      idempotent: body.idempotent ?? false,
      maxAttempts,
      sensitiveValues: body.sensitiveValues ?? [],
      createdBy: actor.userId,
      createdByLabel: actorLabel(actor),
      startedAt: null,
      finishedAt: null,
      cancelRequestedAt: null,
      cancelRequestedBy: null,
    };
    const details = { name: fields.name, agents: body.targets.agentIds, concurrencyKey: fields.concurrencyKey };
    const withNames = (jobs: Job[]) => jobs.map((j) => Object.assign(j, { agentName: names.get(j.agentId)! }));

    // Without a concurrency key nothing needs locking: one statement does it all. Agents on a
    // WebSocket here are offered their job in it, and only the others need a notification.
    if (!body.concurrencyKey) {
      const sockets = new Map<string, AgentConnection>();
      for (const id of body.targets.agentIds) {
        const socket = this.connections.offerSocket(id);
        if (socket) sockets.set(id, socket);
      }
      const create = () =>
        this.tasks.createAtOnce(
          fields,
          body.targets.agentIds,
          this.audit.eventFor(actor, 'task.created', undefined, details),
          { channel: CLUSTER_CHANNEL, from: this.connections.nodeId, agentIds: body.targets.agentIds.filter((id) => !sockets.has(id)) },
          { agentIds: [...sockets.keys()], maxJobs: [...sockets.values()].map((c) => c.maxJobs), nodeId: this.connections.nodeId, offerSeconds: this.config.jobOfferTimeoutSeconds },
          actor.unconfirmed ? { apiKeyId: actor.apiKeyId!, roles: rolesAtLeast(actor.unconfirmed.leastRole) } : null,
        );
      let created = await create();
      if (!created) {
        // A target changed since it was looked at (revoked, deleted), or the remembered key did
        // (revoked, its creator's role lowered): say which, or try once more.
        if (actor.unconfirmed) actor = await actor.unconfirmed.confirm();
        names = await this.checkTargets(actor, body.targets.agentIds);
        created = await create();
        if (!created) throw new TasksException(TasksErrorCode.TARGETS_REFUSED, 'the targets changed while the task was being created; send it again');
      }
      const task = Object.assign(new Task(), fields, { id: created.id, createdAt: created.createdAt });
      for (const j of created.jobs) {
        const connection = sockets.get(j.agentId);
        if (j.state !== 'offered' || !connection) continue;
        const { name, kind, scriptSyntax, scriptBody, timeoutSeconds, sensitiveValues, organizationId } = fields;
        const offered = { id: j.id, agentId: j.agentId, taskId: task.id, organizationId, attempt: 1, name, kind, scriptSyntax, scriptBody, timeoutSeconds, sensitiveValues };
        this.dispatch.sendOffers(connection, j.agentId, [{ ...offered, queuedAt: created.createdAt, createdAt: new Date(j.createdAt) }]);
      }
      this.connections.workAnnounced(created.jobs.filter((j) => j.state === 'queued').map((j) => j.agentId));
      const jobs = created.jobs.map((j) =>
        Object.assign(new Job(), { ...j, createdAt: new Date(j.createdAt), taskId: task.id, attempt: 1, exitCode: null, signal: null, message: null, startedAt: null, finishedAt: null, cancelRequestedAt: null, logTruncated: false }),
      );
      return taskView(task, withNames(jobs), null);
    }

    const out = new Announcements();
    return this.dataSource.transaction(async (em) => {
      await this.tasks.lockConcurrencyKey(em, actor.organizationId, body.concurrencyKey!);
      const blocker = await this.tasks.findLastInLine(em, actor.organizationId, body.concurrencyKey!);
      const { task, jobs } = await this.tasks.create(em, { ...fields, blockedBy: blocker?.id ?? null }, body.targets.agentIds, blocker === null);
      await this.audit.record(actor, 'task.created', { type: 'task', id: task.id }, details, em);
      if (!blocker) for (const j of jobs) out.agents.add(j.agentId);
      out.tasks.add(task.id);
      await this.progress.announce(out, em);
      return taskView(task, withNames(jobs), blocker);
    });
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
    const out = new Announcements();
    await this.dataSource.transaction(async (em) => {
      const task = await this.tasks.lockInOrganization(em, actor.organizationId, id);
      if (!task) throw new NotFoundException('task', id);
      if (isFinishedTask(task.state)) throw new TasksException(TasksErrorCode.TASK_FINISHED, `task "${task.name}" already ended (${task.state}); there is nothing to cancel`);
      const label = actorLabel(actor);
      await this.tasks.markCancelRequested(em, id, label);
      const { running } = await this.jobs.cancelForTask(em, id, `cancelled by ${label} before it started`);
      for (const r of running) out.cancels.add(r.agentId);
      await this.progress.settle(em, id, out);
      await this.audit.record(actor, 'task.cancelled', { type: 'task', id }, { name: task.name, runningJobs: running.length }, em);
      await this.progress.announce(out, em);
    });
    return this.get(actor, id);
  }

  /**
   * The targets' names when every one is on a WebSocket of this node, approved, of the caller's
   * organisation, and allows the task by the local policy it reported in its hello; else null.
   */
  private targetsHere(actor: Actor, agentIds: string[]): Map<string, string> | null {
    const names = new Map<string, string>();
    for (const id of agentIds) {
      const socket = this.connections.offerSocket(id);
      if (!socket?.agent || socket.agent.organizationId !== actor.organizationId) return null;
      if (policyRefusal(socket.policy ?? null, { kind: 'script', adHocScript: true, organizationId: actor.organizationId })) return null;
      names.set(id, socket.agent.name);
    }
    return names;
  }

  /** The targets' names by id, once every one of them may run the task. */
  private async checkTargets(actor: Actor, agentIds: string[]): Promise<Map<string, string>> {
    const agents = await this.agents.findTargets(actor.organizationId, agentIds);
    const byId = new Map(agents.map((a) => [a.id, a]));
    const refused = agentIds.flatMap((agentId): { agentId: string; name: string | null; reason: string }[] => {
      const agent = byId.get(agentId);
      if (!agent) return [{ agentId, name: null, reason: 'no such agent in this organisation' }];
      if (agent.status !== 'approved') {
        const what = agent.status === 'pending' ? 'is pending approval; approve it first' : `was ${agent.status}; it can never run work`;
        return [{ agentId, name: agent.name, reason: `agent "${agent.name}" ${what}` }];
      }
      const policy = policyRefusal(agent.policy, { kind: 'script', adHocScript: true, organizationId: actor.organizationId });
      return policy ? [{ agentId, name: agent.name, reason: `agent "${agent.name}": ${policy}` }] : [];
    });
    if (refused.length)
      throw new TasksException(TasksErrorCode.TARGETS_REFUSED, `${refused.length} of ${agentIds.length} targets cannot run this task: ${refused.map((r) => r.reason).join('; ')}`, refused);
    return new Map(agents.map((a) => [a.id, a.name]));
  }

  private async views(organizationId: string, tasks: Task[]) {
    const jobs = await this.tasks.jobsOfTasks(tasks.map((t) => t.id));
    const blockers = new Map((await this.tasks.findNames(organizationId, tasks.flatMap((t) => (t.blockedBy ? [t.blockedBy] : [])))).map((b) => [b.id, b]));
    return tasks.map((t) => taskView(t, jobs.filter((j) => j.taskId === t.id), t.blockedBy ? blockers.get(t.blockedBy) : undefined));
  }
}

/** What the API shows of a task: its jobs, and what it waits for while queued behind another. */
function taskView(t: Task, jobs: JobWithAgent[], blocker: Pick<Task, 'id' | 'name' | 'state'> | null | undefined) {
  return {
    id: t.id,
    name: t.name,
    kind: t.kind,
    state: t.state,
    script: { syntax: t.scriptSyntax, body: t.scriptBody },
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
