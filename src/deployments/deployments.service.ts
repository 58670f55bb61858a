import { Injectable, type OnModuleInit } from '@nestjs/common';
import { isUUID } from 'class-validator';
import type { Request, Response } from 'express';
import { DataSource, type EntityManager } from 'typeorm';
import { AgentsRepository } from '../agents/agents.repository';
import { AuditService } from '../audit/audit.service';
import { type Actor, actorLabel } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { retryOnDeadlock } from '../database/sql';
import { EnvironmentsService } from '../environments/environments.service';
import { roleAtLeast } from '../orgs/roles';
import { JobLogsRepository } from '../tasks/job-logs.repository';
import { JobOutputs } from '../tasks/job-outputs';
import { JobsRepository } from '../tasks/jobs.repository';
import { MASK } from '../protocol/masking';
import { TaskLogsService } from '../tasks/task-logs.service';
import { TaskQueue } from '../tasks/task-queue.service';
import { answer, INTERRUPTION_ACTIONS, planDeployment } from './deployment-plan';
import { DEPLOYMENT_TASK_KIND, DeploymentRunner, systemEvent } from './deployment-runner';
import type { Deployment } from './deployment.entity';
import { DeploymentValues } from './deployment-values';
import { DeploymentVariables } from './deployment-variables';
import { DeploymentsErrorCode, DeploymentsException } from './deployments.exception';
import { DeploymentsRepository } from './deployments.repository';
import type { AnswerInterruptionDto, CreateDeploymentDto, ListDeploymentsQuery } from './dto/deployment.dto';
import type { Interruption } from './interruption.entity';
import { autoDeployOnSuccess, lifecycleProgress, refusal } from './lifecycle-progress';
import { LifecyclesService } from './lifecycles.service';
import { ProjectsRepository } from './projects.repository';
import type { Release } from './release.entity';
import { ReleasesRepository } from './releases.repository';

function interruptionView(i: Interruption) {
  return {
    id: i.id,
    stepId: i.stepId,
    kind: i.kind,
    instructions: i.instructions,
    responsibleRole: i.responsibleRole,
    actions: INTERRUPTION_ACTIONS[i.kind],
    answer: i.action ? { action: i.action, note: i.note, by: i.answeredByLabel, at: i.answeredAt } : null,
    createdAt: i.createdAt,
  };
}

@Injectable()
export class DeploymentsService implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly deployments: DeploymentsRepository,
    private readonly releases: ReleasesRepository,
    private readonly projects: ProjectsRepository,
    private readonly lifecycles: LifecyclesService,
    private readonly environments: EnvironmentsService,
    private readonly agents: AgentsRepository,
    private readonly jobs: JobsRepository,
    private readonly queue: TaskQueue,
    private readonly runner: DeploymentRunner,
    private readonly logs: TaskLogsService,
    private readonly audit: AuditService,
    private readonly variables: DeploymentVariables,
    private readonly jobOutputs: JobOutputs,
    private readonly jobLogs: JobLogsRepository,
  ) {}

  onModuleInit() {
    this.runner.afterSuccess = (em, d) => this.autoDeploy(em, d);
  }

  /**
   * Deploys a release to an environment, if its lifecycle allows it there and every step can run
   * as asked; it waits in line behind the deployment of the same project there that runs.
   */
  async create(actor: Actor, releaseId: string, body: CreateDeploymentDto) {
    const release = await this.requireRelease(actor.organizationId, releaseId);
    const by = { userId: actor.userId, label: actorLabel(actor) };
    const id = await retryOnDeadlock(() =>
      this.dataSource.transaction(async (em) => {
        const { deployment, details } = await this.deploy(em, release, body, by);
        await this.audit.record(actor, 'deployment.created', { type: 'deployment', id: deployment.id }, details, em);
        return deployment.id;
      }),
    );
    return this.get(actor, id);
  }

  /**
   * What deploying the release there would do, without doing it: each step's targets or why it
   * is skipped, and why the lifecycle or a step would refuse it. The console's deploy dialog shows it.
   */
  async preview(actor: Actor, releaseId: string, body: CreateDeploymentDto) {
    const release = await this.requireRelease(actor.organizationId, releaseId);
    const { environment, forbidden, plan } = await this.plan(this.dataSource.manager, release, body, false);
    return {
      environment,
      refusals: [...(forbidden ? [{ code: DeploymentsErrorCode.LIFECYCLE_FORBIDS as const, message: forbidden }] : []), ...plan.refusals],
      steps: plan.steps.map((s) => ({
        name: s.name,
        kind: release.steps[s.position].kind,
        state: s.state,
        reason: s.reason,
        targets: s.targets.map((t) => ({ agent: { id: t.agentId, name: t.agentName }, state: t.state, reason: t.reason })),
      })),
    };
  }

  /**
   * The checks and the plan of a deployment of the release: a refusal by its lifecycle (null when
   * it allows it), each step's targets. Names of steps or agents that are not there are the
   * caller's mistake and throw. With `lock`, the project stays locked until the transaction ends.
   */
  private async plan(em: EntityManager, release: Release, body: CreateDeploymentDto, lock: boolean) {
    const organizationId = release.organizationId;
    const project = lock ? await this.projects.lockProject(em, organizationId, release.projectId) : await this.projects.findInOrganization(organizationId, release.projectId, em);
    if (!project) throw new NotFoundException('release', release.id);
    const [environment] = await this.environments.resolve(organizationId, [body.environment], em);
    const all = (await this.environments.inOrder(organizationId, em)).map((e) => ({ id: e.id, name: e.name }));
    const lifecycle = await this.lifecycles.forProject(organizationId, project.lifecycleId, em);
    const progress = lifecycleProgress(lifecycle.phases, all, await this.releases.succeededEnvironments(organizationId, release.id, em));
    const refused = refusal(progress, environment.id, lifecycle.name);
    const forbidden = refused && `release ${release.version} of "${project.name}" cannot go to ${environment.name} yet: ${refused}`;

    const unknownStep = (body.skipSteps ?? []).find((name) => !release.steps.some((s) => s.name === name));
    if (unknownStep)
      throw new DeploymentsException(
        DeploymentsErrorCode.UNKNOWN_STEP,
        `release ${release.version} has no step "${unknownStep}" to skip; its steps are ${release.steps.map((s) => `"${s.name}"`).join(', ')}`,
      );
    const candidates = await this.agents.approvedInEnvironment(em, organizationId, environment.name);
    const excludeAgentIds = new Set<string>();
    for (const ref of body.excludeAgents ?? []) {
      const agent = candidates.find((a) => a.id === ref || a.name === ref);
      if (!agent) throw new DeploymentsException(DeploymentsErrorCode.UNKNOWN_AGENT, `there is no approved agent "${ref}" in ${environment.name} to exclude`);
      excludeAgentIds.add(agent.id);
    }
    const plan = planDeployment(release.steps, { organizationId, environment, agents: candidates, skipSteps: body.skipSteps ?? [], excludeAgentIds });
    const values = await this.variables.release(em, organizationId, release.id);
    // A preview shows what is left to answer; a deployment is refused until it is answered.
    const unanswered: string[] = [];
    const answers = this.variables.checkAnswers(values, body.variables ?? {}, lock ? undefined : unanswered);
    for (const message of unanswered) plan.refusals.push({ code: 'PROMPTED_VARIABLE_MISSING', message });
    // Every script that would run must have each value it uses, before anything runs.
    const seen = new DeploymentValues(
      values,
      answers,
      {
        id: '',
        taskId: '',
        project: project.name,
        release: release.version,
        releaseNotes: release.notes,
        environmentId: environment.id,
        environment: environment.name,
        createdBy: '',
      },
      null,
    );
    const agents = new Map(candidates.map((a) => [a.id, a]));
    for (const s of plan.steps) {
      const step = release.steps[s.position];
      if (step.kind !== 'script' || s.state !== 'pending') continue;
      for (const t of s.targets.filter((x) => x.state === 'pending')) {
        const problem = seen.problem(step, agents.get(t.agentId)!);
        if (problem) plan.refusals.push({ code: 'UNRESOLVED_VARIABLE', message: problem });
      }
    }
    return { project, environment: { id: environment.id, name: environment.name, guidedFailure: environment.guidedFailure }, forbidden, excludeAgentIds, plan, answers };
  }

  /** The one way a deployment is made, by a person or by its lifecycle: checked, planned, queued, started unless it waits in line. */
  private async deploy(em: EntityManager, release: Release, body: CreateDeploymentDto, by: { userId: string | null; label: string }) {
    const organizationId = release.organizationId;
    const { project, environment, forbidden, excludeAgentIds, plan, answers } = await this.plan(em, release, body, true);
    if (forbidden) throw new DeploymentsException(DeploymentsErrorCode.LIFECYCLE_FORBIDS, forbidden);
    if (plan.refusals.length) throw new DeploymentsException(DeploymentsErrorCode[plan.refusals[0].code], plan.refusals.map((r) => r.message).join('; '), plan.refusals);

    const queued = await this.queue.enqueue(em, organizationId, {
      kind: DEPLOYMENT_TASK_KIND,
      name: `Deploy ${project.name} ${release.version} to ${environment.name}`,
      createdBy: by,
      timeoutSeconds: 3600,
      concurrencyKey: `deployment:${project.id}:${environment.id}`,
      held: true,
      spec: { releaseId: release.id, environmentId: environment.id },
      jobs: [],
    });
    const deployment = await this.deployments.create(
      em,
      {
        organizationId,
        projectId: project.id,
        releaseId: release.id,
        environmentId: environment.id,
        taskId: queued.task.id,
        state: 'queued',
        guidedFailure: body.guidedFailure ?? environment.guidedFailure,
        skipSteps: body.skipSteps ?? [],
        excludeAgentIds: [...excludeAgentIds],
        createdBy: by.userId,
        createdByLabel: by.label,
      },
      plan.steps,
    );
    if (answers.size) await this.variables.saveAnswers(em, organizationId, deployment.id, [...answers.values()]);
    if (!queued.blocker) await this.runner.step(em, deployment);
    return { deployment, details: { project: project.name, release: release.version, environment: environment.name } };
  }

  /**
   * After a success, the environments whose lifecycle phase it just opened and that ask for it
   * get a deployment of the release, in the same transaction; one that may not be made is
   * audited with why, and the success stands.
   */
  private async autoDeploy(em: EntityManager, d: Deployment): Promise<void> {
    const release = await this.releases.findInOrganization(d.organizationId, d.releaseId, em);
    const project = release && (await this.projects.findInOrganization(d.organizationId, release.projectId, em));
    if (!release || !project) return;
    const lifecycle = await this.lifecycles.forProject(d.organizationId, project.lifecycleId, em);
    const all = (await this.environments.inOrder(d.organizationId, em)).map((e) => ({ id: e.id, name: e.name }));
    const succeeded = await this.releases.succeededEnvironments(d.organizationId, release.id, em);
    succeeded.delete(d.environmentId);
    for (const environmentId of autoDeployOnSuccess(lifecycle.phases, all, succeeded, d.environmentId)) {
      const by = { userId: null, label: 'auto-deploy' };
      try {
        const { deployment, details } = await this.deploy(em, release, { environment: environmentId }, by);
        await this.audit.recordEvent(systemEvent(d.organizationId, 'deployment.created', deployment.id, { ...details, auto: true }), em);
      } catch (err) {
        if (!(err instanceof DeploymentsException)) throw err;
        await this.audit.recordEvent(systemEvent(d.organizationId, 'deployment.auto-deploy-refused', release.id, { environmentId, reason: err.message }, 'release'), em);
      }
    }
  }

  async list(actor: Actor, query: ListDeploymentsQuery) {
    const environmentId = query.environment ? (await this.environments.resolve(actor.organizationId, [query.environment]))[0].id : undefined;
    const rows = await this.deployments.list(actor.organizationId, { projectId: query.projectId, environmentId, state: query.state, limit: query.limit ?? 50 });
    return this.summaries(actor.organizationId, rows);
  }

  /** The deployment with its steps, each agent's job, its interruptions, and what it waits for. */
  async get(actor: Actor, id: string) {
    const d = await this.require(actor.organizationId, id);
    const [summary] = await this.summaries(actor.organizationId, [d]);
    const [steps, targets, interruptions] = await Promise.all([
      this.deployments.steps(this.dataSource.manager, actor.organizationId, [d.id]),
      this.deployments.targets(this.dataSource.manager, actor.organizationId, [d.id]),
      this.deployments.interruptions(actor.organizationId, [d.id]),
    ]);
    const jobs = new Map(
      (
        await this.jobs.times(
          actor.organizationId,
          targets.flatMap((t) => (t.jobId ? [t.jobId] : [])),
        )
      ).map((j) => [j.id, j]),
    );
    const release = await this.releases.findInOrganization(actor.organizationId, d.releaseId);
    // What each job set for later steps; sensitive ones never in clear.
    const outputs = new Map<string, { name: string; value: string; sensitive: boolean }[]>();
    for (const o of await this.jobOutputs.forJobs(actor.organizationId, [...jobs.keys()]))
      outputs.set(o.jobId, [...(outputs.get(o.jobId) ?? []), { name: o.name, value: o.sensitive ? MASK : o.value, sensitive: o.sensitive }]);
    return {
      ...summary,
      guidedFailure: d.guidedFailure,
      skipSteps: d.skipSteps,
      steps: steps.map((s) => ({
        id: s.id,
        name: s.name,
        kind: release?.steps[s.position]?.kind ?? 'script',
        block: s.block,
        state: s.state,
        reason: s.reason,
        ignored: s.ignored,
        targets: targets
          .filter((t) => t.stepId === s.id)
          .map((t) => {
            const job = t.jobId ? jobs.get(t.jobId) : undefined;
            return {
              agent: { id: t.agentId, name: t.agentName },
              state: t.state,
              reason: t.reason,
              jobId: t.jobId,
              exitCode: job?.exitCode ?? null,
              startedAt: job?.startedAt ?? null,
              finishedAt: job?.finishedAt ?? null,
              outputs: (t.jobId && outputs.get(t.jobId)) || [],
            };
          }),
      })),
      interruptions: interruptions.map(interruptionView),
    };
  }

  /** Cancels through the engine: running jobs are told to stop, later steps never start. */
  async cancel(actor: Actor, id: string) {
    const d = await this.require(actor.organizationId, id);
    if (d.finishedAt) throw new DeploymentsException(DeploymentsErrorCode.DEPLOYMENT_FINISHED, `the deployment already ended (${d.state}); there is nothing to cancel`);
    await retryOnDeadlock(() =>
      this.dataSource.transaction(async (em) => {
        await this.queue.cancel(em, actor.organizationId, d.taskId!, actorLabel(actor));
        await this.audit.record(actor, 'deployment.cancelled', { type: 'deployment', id }, {}, em);
      }),
    );
    return this.get(actor, id);
  }

  /** Answers an interruption: a manual step's proceed or abort, or what to do about a failure under guided failure. */
  async answer(actor: Actor, id: string, body: AnswerInterruptionDto) {
    const found = isUUID(id) ? await this.deployments.findInterruption(actor.organizationId, id) : null;
    if (!found) throw new NotFoundException('interruption', id);
    if (!INTERRUPTION_ACTIONS[found.kind].includes(body.action))
      throw new DeploymentsException(DeploymentsErrorCode.ACTION_NOT_ALLOWED, `a ${found.kind} interruption takes ${INTERRUPTION_ACTIONS[found.kind].join(', ')}, not ${body.action}`);
    if (!roleAtLeast(actor.role, found.responsibleRole))
      throw new DeploymentsException(DeploymentsErrorCode.NOT_RESPONSIBLE, `only a member with the role ${found.responsibleRole} or higher may answer this; you are ${actor.role}`);
    const d = await this.require(actor.organizationId, found.deploymentId);
    const label = actorLabel(actor);
    await retryOnDeadlock(() =>
      this.dataSource.transaction(async (em) => {
        await this.queue.lock(em, actor.organizationId, d.taskId!);
        if (!(await this.deployments.answer(em, actor.organizationId, found.id, { action: body.action, note: body.note ?? '', answeredBy: actor.userId, answeredByLabel: label })))
          throw new DeploymentsException(DeploymentsErrorCode.INTERRUPTION_ANSWERED, 'this interruption was already answered; reload the deployment to see by whom');
        let excluded: string[] = [];
        await this.runner.step(em, d, (model) => {
          const step = model.steps.find((s) => s.id === found.stepId);
          if (step?.state === 'waiting') excluded = answer(model, step, body.action, label);
        });
        if (excluded.length) await this.deployments.update(em, d.organizationId, d.id, { excludeAgentIds: [...new Set([...d.excludeAgentIds, ...excluded])] });
        await this.audit.record(actor, 'interruption.answered', { type: 'deployment', id: d.id }, { interruption: found.id, kind: found.kind, action: body.action, note: body.note ?? '' }, em);
      }),
    );
    return this.get(actor, d.id);
  }

  /**
   * The deployment's log: as text or JSON, grouped by step (in process order) and agent, each in
   * the order it was printed; or followed live as its task's server-sent events.
   */
  async log(actor: Actor, id: string, req: Request, res: Response) {
    const d = await this.require(actor.organizationId, id);
    if ((req.headers.accept ?? '').includes('text/event-stream')) return this.logs.respond(actor, d.taskId!, undefined, req, res);
    const [steps, lines] = await Promise.all([
      this.deployments.steps(this.dataSource.manager, actor.organizationId, [d.id]),
      this.jobLogs.readLog(actor.organizationId, d.taskId!, undefined, new Map()),
    ]);
    const grouped = steps.map((s) => {
      const mine = lines.filter((l) => l.jobName === s.name);
      const agents = [...new Set(mine.map((l) => l.agentName))].sort();
      return { step: s.name, agents: agents.map((agent) => ({ agent, lines: mine.filter((l) => l.agentName === agent) })) };
    });
    if ((req.headers.accept ?? '').includes('application/json')) return res.json({ deploymentId: d.id, state: d.state, steps: grouped });
    const text = grouped
      .filter((g) => g.agents.length)
      .map((g) => `== ${g.step} ==\n${g.agents.map((a) => a.lines.map((l) => l.text.replace(/^(?=.)/gm, `[${a.agent}] `)).join('')).join('')}`)
      .join('');
    res.type('text/plain; charset=utf-8').send(text);
  }

  /** Every project × environment: its latest deployment. */
  async dashboard(actor: Actor) {
    const [projects, environments, latest] = await Promise.all([
      this.projects.list(actor.organizationId),
      this.environments.inOrder(actor.organizationId),
      this.deployments.latestPerProjectAndEnvironment(actor.organizationId),
    ]);
    const summaries = await this.summaries(actor.organizationId, latest);
    return {
      environments: environments.map((e) => ({ id: e.id, name: e.name })),
      projects: projects.map((p) => ({
        id: p.id,
        name: p.name,
        deployments: Object.fromEntries(summaries.filter((s) => s.project.id === p.id).map((s) => [s.environment.id, s])),
      })),
    };
  }

  private async summaries(organizationId: string, rows: Deployment[]) {
    if (!rows.length) return [];
    const em: EntityManager = this.dataSource.manager;
    const names = await em.query<{ id: string; project: string; release: string; environment: string; waiting_for: string | null }[]>(
      `SELECT d.id, p.name AS project, r.version AS release, e.name AS environment,
              (SELECT b.id FROM tasks t JOIN deployments b ON b.task_id = t.blocked_by WHERE t.id = d.task_id) AS waiting_for
         FROM deployments d JOIN projects p ON p.id = d.project_id JOIN releases r ON r.id = d.release_id JOIN environments e ON e.id = d.environment_id
        WHERE d.organization_id = $1 AND d.id = ANY ($2::uuid[])`,
      [organizationId, rows.map((d) => d.id)],
    );
    const byId = new Map(names.map((n) => [n.id, n]));
    return rows.map((d) => {
      const n = byId.get(d.id)!;
      return {
        id: d.id,
        taskId: d.taskId,
        project: { id: d.projectId, name: n.project },
        release: { id: d.releaseId, version: n.release },
        environment: { id: d.environmentId, name: n.environment },
        state: d.state,
        waitingFor: n.waiting_for,
        createdBy: d.createdByLabel,
        createdAt: d.createdAt,
        finishedAt: d.finishedAt,
      };
    });
  }

  private async require(organizationId: string, id: string): Promise<Deployment> {
    const found = isUUID(id) ? await this.deployments.findInOrganization(organizationId, id) : null;
    if (!found) throw new NotFoundException('deployment', id);
    return found;
  }

  private async requireRelease(organizationId: string, id: string): Promise<Release> {
    const found = isUUID(id) ? await this.releases.findInOrganization(organizationId, id) : null;
    if (!found) throw new NotFoundException('release', id);
    return found;
  }
}
