import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { NewAuditEvent } from '../audit/audit.repository';
import { AuditService } from '../audit/audit.service';
import type { FinishedJob } from '../tasks/jobs.repository';
import { MAX_SENSITIVE_VALUES } from '../protocol/messages';
import { TaskHooks } from '../tasks/task-hooks';
import { type NewJob, TaskQueue } from '../tasks/task-queue.service';
import { advance, DEPLOYMENT_JOB_KIND, type DeploymentModel, type Effect } from './deployment-plan';
import type { Deployment } from './deployment.entity';
import { DeploymentValues } from './deployment-values';
import { DeploymentVariables } from './deployment-variables';
import { type DeploymentContext, DeploymentsRepository } from './deployments.repository';

/** The engine task kind of a deployment (its jobs are of DEPLOYMENT_JOB_KIND, which is the same word). */
export const DEPLOYMENT_TASK_KIND = 'deployment';

/**
 * Runs deployments on the engine: every change the engine reports (a job ended, a task reached
 * the front of its line, a cancel) and every answer to an interruption is applied, in the
 * transaction that made it, by locking the deployment and calling `advance` on its stored state.
 * So all of a deployment's progress is in PostgreSQL, committed with the job events that caused
 * it: a node killed at any moment leaves nothing to redo, and any node carries on.
 */
/** An audit event of what Corral did by itself (a deployment finished, an automatic deployment). */
export function systemEvent(organizationId: string, action: string, targetId: string, details: Record<string, unknown>, targetType = 'deployment'): NewAuditEvent {
  return { organizationId, actorType: 'system', actorId: null, actorLabel: 'corral', ip: null, action, targetType, targetId, details };
}

@Injectable()
export class DeploymentRunner implements OnModuleInit {
  /** Told of each success, in its transaction (the lifecycle's automatic deployments). */
  afterSuccess?: (em: EntityManager, d: Deployment) => Promise<void>;

  constructor(
    private readonly deployments: DeploymentsRepository,
    private readonly queue: TaskQueue,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
    private readonly variables: DeploymentVariables,
  ) {}

  onModuleInit() {
    this.hooks.register(DEPLOYMENT_TASK_KIND, {
      jobsEnded: (em, jobs) => this.jobsEnded(em, jobs),
      tasksReady: (em, tasks) => this.tasksStarting(em, tasks),
      tasksCancelling: (em, tasks) => this.tasksCancelling(em, tasks),
    });
  }

  /**
   * Moves a deployment on as far as it can go (the caller holds its task's lock, then this takes
   * the deployment's), with `change` applied to its state first (an answer to an interruption).
   */
  async step(em: EntityManager, d: Pick<Deployment, 'id' | 'organizationId'>, change?: (model: DeploymentModel) => void): Promise<void> {
    const locked = await this.deployments.lock(em, d.organizationId, d.id);
    if (!locked || locked.finishedAt) return;
    const context = await this.deployments.context(em, locked);
    const model = await this.deployments.model(em, locked, context.steps);
    change?.(model);
    let effects = advance(model);
    for (let round = 0; effects.length; round++) {
      const again = await this.apply(em, locked, context, effects);
      effects = again ? advance(model) : [];
      if (round > model.steps.length * 2 + 10) throw new Error(`deployment ${locked.id} does not settle`);
    }
    await this.deployments.saveModel(em, locked.organizationId, model);
    if (!locked.finishedAt) {
      const waiting = model.steps.some((s) => s.state === 'waiting');
      const state = waiting ? 'paused' : 'running';
      if (state !== locked.state) await this.deployments.update(em, locked.organizationId, locked.id, { state });
    }
  }

  /** Does what `advance` asked for; true when something it found (a target that may not run) needs another look. */
  private async apply(em: EntityManager, d: Deployment, context: DeploymentContext, effects: Effect[]): Promise<boolean> {
    let again = false;
    for (const effect of effects) {
      if (effect.type === 'start') {
        const step = effect.step.step;
        if (step.kind !== 'script') continue;
        const values = await this.values(em, d, context);
        const agents = await this.variables.targetAgents(
          em,
          d.organizationId,
          effect.targets.map((t) => t.agentId),
        );
        const payload = { id: d.id, project: context.project, release: context.release, environment: context.environment, step: step.name };
        const jobs: NewJob[] = [];
        for (const target of effect.targets) {
          // A target whose agent is gone keeps its id as its name: its job is refused as for any agent that may not run it.
          const agent = agents.get(target.agentId) ?? { id: target.agentId, name: target.agentId, roles: [] };
          const seen = values.forTarget(step, agent);
          // Every sensitive value it sees is one of its secrets, masked in its log: the earlier steps' sensitive outputs too.
          const sensitive = seen.variables.filter((v) => v.sensitive);
          const secrets = [...new Set(sensitive.map((v) => v.value))];
          const problem = values.problem(step, agent, seen);
          if (problem || secrets.length > MAX_SENSITIVE_VALUES) {
            const reason = problem ?? `step "${step.name}" cannot run on ${agent.name}: it sees ${secrets.length} sensitive values, more than the ${MAX_SENSITIVE_VALUES} a job can carry`;
            Object.assign(target, { state: 'failed', reason });
            again = true;
            continue;
          }
          jobs.push({
            agentId: agent.id,
            name: step.name,
            timeoutSeconds: step.timeoutSeconds,
            payload: {
              kind: DEPLOYMENT_JOB_KIND,
              payloadVersion: 2,
              script: step.script,
              deployment: payload,
              variables: seen.variables.filter((v) => !v.sensitive).map(({ name, value }) => ({ name, value })),
              sensitiveVariables: sensitive.map((v) => ({ name: v.name, secret: secrets.indexOf(v.value) })),
            },
            secrets,
          });
        }
        const { jobs: added, refused } = await this.queue.addJobs(
          em,
          { id: d.taskId!, organizationId: d.organizationId, name: step.name, timeoutSeconds: step.timeoutSeconds, blockedBy: null },
          jobs,
        );
        const targetOf = new Map(effect.targets.map((t) => [t.agentId, t]));
        await this.deployments.setJobs(
          em,
          d.organizationId,
          added.map((j) => ({ targetId: targetOf.get(j.agentId)!.id, jobId: j.id })),
        );
        for (const r of refused) Object.assign(targetOf.get(r.agentId)!, { state: 'failed', reason: r.reason });
        again ||= refused.length > 0;
      } else if (effect.type === 'interrupt') {
        const step = effect.step.step;
        await this.deployments.openInterruption(em, {
          organizationId: d.organizationId,
          deploymentId: d.id,
          stepId: effect.step.id,
          kind: effect.kind,
          instructions:
            step.kind === 'manual'
              ? (await this.values(em, d, context)).shown(step, step.instructions)
              : `step "${step.name}" failed: ${effect.step.targets.filter((t) => t.state === 'failed').length} of its jobs failed`,
          responsibleRole: step.kind === 'manual' ? step.responsibleRole : 'operator',
        });
      } else {
        d.finishedAt = new Date();
        d.state = effect.outcome;
        await this.deployments.update(em, d.organizationId, d.id, { state: effect.outcome, finishedAt: d.finishedAt });
        await this.queue.conclude(em, { id: d.taskId!, organizationId: d.organizationId }, effect.outcome);
        await this.audit.recordEvent(
          systemEvent(d.organizationId, 'deployment.finished', d.id, { project: context.project, release: context.release, environment: context.environment, state: effect.outcome }),
          em,
        );
        if (effect.outcome === 'succeeded') await this.afterSuccess?.(em, d);
      }
    }
    return again;
  }

  /** The release's variables with the deployment's answers, read in its transaction. */
  private async values(em: EntityManager, d: Deployment, context: DeploymentContext): Promise<DeploymentValues> {
    const [values, answers, outputs] = await Promise.all([
      this.variables.release(em, d.organizationId, d.releaseId),
      this.variables.answers(em, d.organizationId, d.id),
      this.variables.outputs(em, d.organizationId, d.id),
    ]);
    return new DeploymentValues(
      values,
      answers,
      {
        id: d.id,
        taskId: d.taskId!,
        project: context.project,
        release: context.release,
        releaseNotes: context.releaseNotes,
        environmentId: d.environmentId,
        environment: context.environment,
        createdBy: d.createdByLabel,
      },
      outputs,
    );
  }

  private async jobsEnded(em: EntityManager, jobs: FinishedJob[]): Promise<void> {
    for (const d of await this.deployments.endJobs(em, jobs)) await this.step(em, d);
  }

  /** Reached the front of its project and environment's line: its first steps start. */
  private async tasksStarting(em: EntityManager, tasks: { id: string }[]): Promise<void> {
    for (const d of await this.deployments.findByTasks(
      em,
      tasks.map((t) => t.id),
    ))
      await this.step(em, d);
  }

  private async tasksCancelling(em: EntityManager, tasks: { id: string }[]): Promise<void> {
    for (const d of await this.deployments.findByTasks(
      em,
      tasks.map((t) => t.id),
    )) {
      await this.deployments.update(em, d.organizationId, d.id, { cancelRequestedAt: new Date() });
      await this.step(em, d);
    }
  }
}
