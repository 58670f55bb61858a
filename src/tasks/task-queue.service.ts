import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type AgentConnection, AgentConnectionsService } from '../agents/agent-connections.service';
import { AgentsRepository } from '../agents/agents.repository';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import type { NewAuditEvent } from '../audit/audit.repository';
import { AuditService } from '../audit/audit.service';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { Batcher } from '../database/batcher';
import { retryOnDeadlock } from '../database/sql';
import { OrganizationLimitsService } from '../orgs/organization-limits.service';
import type { OrganizationLimits } from '../orgs/organization-limits';
import { type JobPayload, JobPayloadSchema } from '../protocol/messages';
import { policyRefusal } from '../protocol/policy-check';
import { jobSecretAad } from '../secrets/sealed-columns';
import { SecretsCipher } from '../secrets/secrets-cipher';
import { JobDispatchService } from './job-dispatch.service';
import { JobsRepository } from './jobs.repository';
import { TaskHooks } from './task-hooks';
import { isFinishedTask } from './task-states';
import { Announcements, TaskProgress } from './task-progress.service';
import { Job } from './job.entity';
import { Task } from './task.entity';
import { TasksErrorCode, TasksException } from './tasks.exception';
import { type InsertedTask, type TaskRow, TasksRepository } from './tasks.repository';

/** One agent's part of new work: what it runs, and what to mask out of what it prints. */
export interface NewJob {
  agentId: string;
  payload: JobPayload;
  /** Masked out of this job's output; sealed at rest, never returned by the API, erased when the job ends. */
  secrets?: string[];
  /** Defaults to the task's name and timeout. */
  name?: string;
  timeoutSeconds?: number;
}

/** Work to queue, as any module asks for it: nothing here knows of HTTP, DTOs or actors. */
export interface NewTask {
  kind: string;
  name: string;
  createdBy: { userId: string | null; label: string };
  timeoutSeconds: number;
  /** Only one task per key runs at a time; the next waits in line, showing what it waits for. */
  concurrencyKey?: string | null;
  /** Running a job twice is safe: a job whose agent was lost may run again, up to maxAttempts. */
  idempotent?: boolean;
  maxAttempts?: number;
  parentTaskId?: string | null;
  /**
   * Its kind's module holds it open (see Task.held): it may start with no jobs, gets more with
   * `addJobs`, and finishes only once the module concludes it.
   */
  held?: boolean;
  /** What was asked, as the API shows it (a script task's script). */
  spec?: Record<string, unknown>;
  jobs: NewJob[];
}

/** A queued task, with its jobs, and the task it waits behind on its concurrency key. */
export interface QueuedTask {
  task: Task;
  jobs: (Job & { agentName: string })[];
  blocker: Pick<Task, 'id' | 'name' | 'state'> | null;
}

/** Why an agent may not run a job (not approved, not of the organisation, refused by its host's policy). */
export interface TargetRefusal {
  agentId: string;
  name: string | null;
  reason: string;
}

interface Submission {
  row: TaskRow;
  audit: NewAuditEvent;
  here: Map<string, AgentConnection>;
  /** The organisation's running limit: jobs offered as they are made stay under it too. */
  runningLimit: number;
}

/**
 * The engine's one way in: every module (the script route, health checks, deployments) queues its
 * work here. Each job's agent must be an approved agent of the organisation whose reported local
 * policy allows the job's kind, or nothing is queued (422 TARGETS_REFUSED naming each, and why).
 */
@Injectable()
export class TaskQueue {
  // Tasks submitted at the same moment go to the database in one statement, with their audit events.
  private readonly submissions = new Batcher<Submission, InsertedTask | undefined>((batch) => this.submitBatch(batch), { maxBatch: 200, concurrency: 2 });

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly dataSource: DataSource,
    private readonly tasks: TasksRepository,
    private readonly agents: AgentsRepository,
    private readonly connections: AgentConnectionsService,
    private readonly dispatch: JobDispatchService,
    private readonly events: ClusterEventsService,
    private readonly audit: AuditService,
    private readonly progress: TaskProgress,
    private readonly jobs: JobsRepository,
    private readonly hooks: TaskHooks,
    private readonly cipher: SecretsCipher,
    private readonly limits: OrganizationLimitsService,
  ) {}

  /**
   * Queues a task inside the caller's transaction (which also writes the caller's own rows and
   * audit): its agents hear of it when that transaction commits.
   */
  async enqueue(em: EntityManager, organizationId: string, spec: NewTask): Promise<QueuedTask> {
    await this.assertQueueRoom(organizationId, em);
    const row = this.row(organizationId, spec);
    const names = await this.checkTargets(organizationId, row, em);
    let blocker: Task | null = null;
    if (row.concurrencyKey) {
      await this.tasks.lockConcurrencyKey(em, organizationId, row.concurrencyKey);
      blocker = await this.tasks.findLastInLine(em, organizationId, row.concurrencyKey);
      row.blockedBy = blocker?.id ?? null;
    }
    const inserted = (await this.tasks.insertMany(em, [row], null)).get(0);
    if (!inserted) throw new TasksException(TasksErrorCode.TARGETS_REFUSED, 'the targets changed while the task was being created; send it again');
    if (!blocker) await this.events.publishAll(ClusterEventsService.jobsReady(row.jobs.map((j) => j.agentId)), em);
    return { ...this.queued(row, inserted, names), blocker };
  }

  /**
   * Queues a task in a transaction of its own (with `audit`) and offers its jobs at once to the
   * agents on a WebSocket of this node; tasks submitted together share that transaction.
   */
  async submit(organizationId: string, spec: NewTask, audit: NewAuditEvent): Promise<QueuedTask> {
    if (spec.concurrencyKey)
      return retryOnDeadlock(() =>
        this.dataSource.transaction(async (em) => {
          const queued = await this.enqueue(em, organizationId, spec);
          await this.audit.recordEvent({ ...audit, targetType: 'task', targetId: queued.task.id }, em);
          return queued;
        }),
      );
    const { runningJobs: runningLimit } = await this.assertQueueRoom(organizationId);
    const row = this.row(organizationId, spec);
    const here = new Map<string, AgentConnection>();
    for (const j of row.jobs) {
      const socket = this.connections.offerSocket(j.agentId);
      if (socket) here.set(j.agentId, socket);
    }
    // Targets on a WebSocket here are known well enough to skip asking first: the statement checks
    // again that each is an approved agent of the organisation, and a refusal is explained below.
    let names = this.targetsHere(organizationId, row, here) ?? (await this.checkTargets(organizationId, row));
    // While the organisation is held to its share of this busy node, its jobs wait to be claimed.
    const offerHere = this.dispatch.mayOfferAtOnce(organizationId) ? here : new Map<string, AgentConnection>();
    let inserted = await this.submissions.submit({ row, audit, here: offerHere, runningLimit });
    if (!inserted) {
      names = await this.checkTargets(organizationId, row); // a target changed since it was looked at: say which
      inserted = await this.submissions.submit({ row, audit, here: offerHere, runningLimit });
      if (!inserted) throw new TasksException(TasksErrorCode.TARGETS_REFUSED, 'the targets changed while the task was being created; send it again');
    }
    const queued = this.queued(row, inserted, names);
    for (const job of queued.jobs) {
      const socket = offerHere.get(job.agentId);
      if (job.state === 'offered' && socket) this.dispatch.sendOffers(socket, job.agentId, [{ ...job, queuedAt: inserted.createdAt }]);
    }
    this.connections.workAnnounced(queued.jobs.filter((j) => j.state === 'queued').map((j) => j.agentId));
    return { ...queued, blocker: null };
  }

  /**
   * An organisation with as many tasks waiting to start as its limit gets no more until some
   * start. Tasks created at the same moment may pass the limit together by a few: it bounds a
   * flood, it is not a quota to the task.
   */
  private async assertQueueRoom(organizationId: string, em?: EntityManager): Promise<OrganizationLimits> {
    const limits = await this.limits.of(organizationId);
    const { queuedTasks } = limits;
    if ((await this.tasks.countQueued(organizationId, queuedTasks, em)) < queuedTasks) return limits;
    throw new TasksException(
      TasksErrorCode.QUEUE_FULL,
      `your organisation already has ${queuedTasks} tasks waiting to start, its limit: let some start (or cancel some), or ask the platform's operator to raise it`,
      { limit: 'queuedTasks', value: queuedTasks },
      { 'Retry-After': '5' },
    );
  }

  /**
   * More jobs for a task its module holds, inside the module's transaction (a hook's, or its own):
   * the agents hear of them when it commits. Agents that may not run their job get none; the
   * module hears why, and decides.
   */
  async addJobs(
    em: EntityManager,
    task: Pick<Task, 'id' | 'organizationId' | 'name' | 'timeoutSeconds' | 'blockedBy'>,
    jobs: NewJob[],
  ): Promise<{ jobs: { id: string; agentId: string }[]; refused: TargetRefusal[] }> {
    const rows = this.jobRows(jobs, task, task.organizationId);
    const { refused } = await this.targets(task.organizationId, rows, em);
    const refusedIds = new Set(refused.map((r) => r.agentId));
    const added = await this.tasks.insertJobs(
      em,
      task,
      rows.filter((j) => !refusedIds.has(j.agentId)),
    );
    if (added.length && !task.blockedBy) await this.events.publishAll(ClusterEventsService.jobsReady(added.map((j) => j.agentId)), em);
    return { jobs: added, refused };
  }

  /**
   * Its module lets a held task go with the outcome it decided (null: its jobs' outcomes decide),
   * and the task settles in the module's transaction. From a hook, the settling that called it
   * settles the task anyway.
   */
  async conclude(em: EntityManager, task: Pick<Task, 'id' | 'organizationId'>, outcome: Task['outcome']): Promise<void> {
    await this.tasks.conclude(em, task.organizationId, task.id, outcome);
    const out = new Announcements();
    await this.progress.settle(em, [task.id], [], out);
    await this.progress.announce(out, em);
  }

  /** Locks the task's row for the caller's transaction: a module that changes what its task does takes this lock first, as every engine path does. */
  lock(em: EntityManager, organizationId: string, taskId: string): Promise<Task | null> {
    return this.tasks.lockInOrganization(em, organizationId, taskId);
  }

  /**
   * Cancels a task in the caller's transaction: what has not started never will, agents are told
   * to stop what runs, and its kind's module hears of it. Null when there is no such task.
   */
  async cancel(em: EntityManager, organizationId: string, taskId: string, by: string): Promise<Task | null> {
    const task = await this.tasks.lockInOrganization(em, organizationId, taskId);
    if (!task) return null;
    if (isFinishedTask(task.state)) throw new TasksException(TasksErrorCode.TASK_FINISHED, `task "${task.name}" already ended (${task.state}); there is nothing to cancel`);
    const out = new Announcements();
    await this.tasks.markCancelRequested(em, organizationId, taskId, by);
    const { cancelled, running } = await this.jobs.cancelForTask(em, organizationId, taskId, `cancelled by ${by} before it started`);
    for (const r of running) out.cancels.add(r.agentId);
    await this.hooks.tasksCancelling(em, [{ id: task.id, kind: task.kind }]);
    await this.progress.settle(em, [taskId], cancelled, out);
    await this.progress.announce(out, em);
    return task;
  }

  private async submitBatch(batch: Submission[]): Promise<(InsertedTask | undefined)[]> {
    const { nodeId } = this.connections;
    const here = new Map<string, number>();
    const runningLimits = new Map<string, number>();
    for (const s of batch) {
      for (const [agentId, socket] of s.here) here.set(agentId, socket.maxJobs);
      runningLimits.set(s.row.organizationId, s.runningLimit);
    }
    // Agents elsewhere hear of their jobs from the notification (a spurious one, for a task refused
    // below, only makes a node look again); those here are offered or told by submit.
    const elsewhere = batch.flatMap((s) => s.row.jobs.map((j) => j.agentId).filter((id) => !s.here.has(id)));
    const parts = [this.audit.ofMade(batch.map((s, n) => ({ ...s.audit, targetType: 'task', n })))];
    if (elsewhere.length) parts.push(this.events.publishPart(ClusterEventsService.jobsReady(elsewhere).map((e) => ({ ...e, from: nodeId }))));
    // One statement, so one round trip and its own transaction: the tasks, their jobs, audit and notifications.
    const inserted = await retryOnDeadlock(() =>
      this.tasks.insertMany(
        null,
        batch.map((s) => s.row),
        { agentIds: [...here.keys()], maxJobs: [...here.values()], runningLimits, nodeId, offerSeconds: this.config.jobOfferTimeoutSeconds },
        parts,
      ),
    );
    return batch.map((_, n) => inserted.get(n));
  }

  private row(organizationId: string, spec: NewTask): TaskRow {
    const maxAttempts = spec.maxAttempts ?? 1;
    if (maxAttempts > 1 && !spec.idempotent)
      throw new TasksException(TasksErrorCode.RETRIES_NEED_IDEMPOTENT, 'maxAttempts above 1 needs "idempotent": true: a job whose agent was lost is only run again when running it twice is safe');
    if (!spec.jobs.length && !spec.held) throw new TasksException(TasksErrorCode.TARGETS_REFUSED, 'a task needs at least one target');
    return {
      organizationId,
      name: spec.name,
      kind: spec.kind,
      spec: spec.spec ?? {},
      timeoutSeconds: spec.timeoutSeconds,
      concurrencyKey: spec.concurrencyKey ?? null,
      blockedBy: null,
      idempotent: spec.idempotent ?? false,
      maxAttempts,
      parentTaskId: spec.parentTaskId ?? null,
      held: spec.held ?? false,
      createdBy: spec.createdBy.userId,
      createdByLabel: spec.createdBy.label,
      jobs: this.jobRows(spec.jobs, spec, organizationId),
    };
  }

  /** The rows of these jobs, their secrets sealed: the jobs table never holds one in clear. */
  private jobRows(jobs: NewJob[], task: Pick<NewTask, 'name' | 'timeoutSeconds'>, organizationId: string): TaskRow['jobs'] {
    const aad = jobSecretAad(organizationId);
    return jobs.map((j) => {
      // Payloads come from modules, not from clients: one that does not fit its schema is a bug.
      const { kind, ...payload } = JobPayloadSchema.parse(j.payload);
      const secrets = (j.secrets ?? []).map((s) => this.cipher.seal(s, aad));
      return { agentId: j.agentId, name: j.name ?? task.name, timeoutSeconds: j.timeoutSeconds ?? task.timeoutSeconds, kind, payload, secrets };
    });
  }

  /** The targets' names when every one is on a WebSocket here, approved, of the organisation, and allows its job by the policy it reported in its hello; else null. */
  private targetsHere(organizationId: string, row: TaskRow, here: Map<string, AgentConnection>): Map<string, string> | null {
    const names = new Map<string, string>();
    for (const job of row.jobs) {
      const socket = here.get(job.agentId);
      if (!socket?.agent || socket.agent.organizationId !== organizationId) return null;
      if (policyRefusal(socket.policy ?? null, { kind: job.kind, organizationId })) return null;
      names.set(job.agentId, socket.agent.name);
    }
    return names;
  }

  /** The targets' names by id, once every one of them may run its job. */
  private async checkTargets(organizationId: string, row: Pick<TaskRow, 'jobs'>, em?: EntityManager): Promise<Map<string, string>> {
    const { names, refused } = await this.targets(organizationId, row.jobs, em);
    if (refused.length)
      throw new TasksException(TasksErrorCode.TARGETS_REFUSED, `${refused.length} of ${row.jobs.length} targets cannot run this task: ${refused.map((r) => r.reason).join('; ')}`, refused);
    return names;
  }

  /** Which of these jobs' agents may run them (their names by id), and why each other may not. */
  private async targets(organizationId: string, jobs: Pick<TaskRow['jobs'][number], 'agentId' | 'kind'>[], em?: EntityManager): Promise<{ names: Map<string, string>; refused: TargetRefusal[] }> {
    const agents = await this.agents.findTargets(
      organizationId,
      jobs.map((j) => j.agentId),
      em,
    );
    const byId = new Map(agents.map((a) => [a.id, a]));
    const refused = jobs.flatMap(({ agentId, kind }): TargetRefusal[] => {
      const agent = byId.get(agentId);
      if (!agent) return [{ agentId, name: null, reason: 'no such agent in this organisation' }];
      if (agent.status !== 'approved') {
        const what = agent.status === 'pending' ? 'is pending approval; approve it first' : `was ${agent.status}; it can never run work`;
        return [{ agentId, name: agent.name, reason: `agent "${agent.name}" ${what}` }];
      }
      const policy = policyRefusal(agent.policy, { kind, organizationId });
      return policy ? [{ agentId, name: agent.name, reason: `agent "${agent.name}": ${policy}` }] : [];
    });
    return { names: new Map(agents.map((a) => [a.id, a.name])), refused };
  }

  private queued(row: TaskRow, inserted: InsertedTask, names: Map<string, string>): Omit<QueuedTask, 'blocker'> {
    const { jobs: specs, ...fields } = row;
    const task = Object.assign(new Task(), fields, {
      id: inserted.id,
      state: 'queued' as const,
      createdAt: inserted.createdAt,
      startedAt: null,
      finishedAt: null,
      cancelRequestedAt: null,
      cancelRequestedBy: null,
    });
    const jobs = inserted.jobs.map((j, i) =>
      Object.assign(new Job(), {
        ...specs[i],
        id: j.id,
        agentId: j.agentId,
        agentName: names.get(j.agentId) ?? '',
        state: j.state,
        createdAt: new Date(j.createdAt),
        taskId: task.id,
        organizationId: row.organizationId,
        attempt: 1,
        exitCode: null,
        signal: null,
        message: null,
        result: null,
        startedAt: null,
        finishedAt: null,
        cancelRequestedAt: null,
        logTruncated: false,
      }),
    );
    return { task, jobs };
  }
}
