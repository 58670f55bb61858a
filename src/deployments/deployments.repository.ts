import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, In } from 'typeorm';
import { rowsOf } from '../database/query-rows';
import type { DeploymentModel, PlannedStep, StepModel } from './deployment-plan';
import { DeploymentStep, DeploymentTarget } from './deployment-step.entity';
import { type Deployment, Deployment as DeploymentEntity, type DeploymentState } from './deployment.entity';
import { Interruption } from './interruption.entity';
import type { Step } from './process.schema';

export interface DeploymentFilter {
  projectId?: string;
  environmentId?: string;
  state?: DeploymentState;
  limit: number;
}

/** What a deployment's jobs are told they are part of. */
export interface DeploymentContext {
  project: string;
  release: string;
  releaseNotes: string;
  environment: string;
  steps: Step[];
}

@Injectable()
export class DeploymentsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async create(em: EntityManager, deployment: Partial<Deployment>, steps: PlannedStep[]): Promise<Deployment> {
    const saved = await em.save(DeploymentEntity, em.create(DeploymentEntity, deployment));
    const stepRows = await em.save(
      DeploymentStep,
      steps.map((s) =>
        em.create(DeploymentStep, { organizationId: saved.organizationId, deploymentId: saved.id, position: s.position, block: s.block, name: s.name, state: s.state, reason: s.reason }),
      ),
    );
    const targets = steps.flatMap((s, i) =>
      s.targets.map((t) => em.create(DeploymentTarget, { organizationId: saved.organizationId, deploymentId: saved.id, stepId: stepRows[i].id, ...t, jobId: null })),
    );
    if (targets.length) await em.insert(DeploymentTarget, targets);
    return saved;
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Deployment | null> {
    return em.findOne(DeploymentEntity, { where: { organizationId, id } });
  }

  lock(em: EntityManager, organizationId: string, id: string): Promise<Deployment | null> {
    return em.getRepository(DeploymentEntity).createQueryBuilder('d').setLock('pessimistic_write').where('d.organization_id = :organizationId AND d.id = :id', { organizationId, id }).getOne();
  }

  findByTasks(em: EntityManager, taskIds: string[]): Promise<Deployment[]> {
    return taskIds.length ? em.find(DeploymentEntity, { where: { taskId: In(taskIds) }, order: { id: 'ASC' } }) : Promise.resolve([]);
  }

  /** Newest first. */
  list(organizationId: string, filter: DeploymentFilter): Promise<Deployment[]> {
    return this.dataSource.manager.find(DeploymentEntity, {
      where: {
        organizationId,
        ...(filter.projectId ? { projectId: filter.projectId } : {}),
        ...(filter.environmentId ? { environmentId: filter.environmentId } : {}),
        ...(filter.state ? { state: filter.state } : {}),
      },
      order: { createdAt: 'DESC', id: 'DESC' },
      take: filter.limit,
    });
  }

  async context(em: EntityManager, d: Deployment): Promise<DeploymentContext> {
    const [row] = await em.query<DeploymentContext[]>(
      `SELECT p.name AS project, r.version AS release, r.notes AS "releaseNotes", e.name AS environment, r.steps
         FROM releases r JOIN projects p ON p.id = r.project_id JOIN environments e ON e.id = $2 AND e.organization_id = r.organization_id
        WHERE r.organization_id = $3 AND r.id = $1`,
      [d.releaseId, d.environmentId, d.organizationId],
    );
    return row;
  }

  async steps(em: EntityManager, organizationId: string, deploymentIds: string[]): Promise<DeploymentStep[]> {
    return em.find(DeploymentStep, { where: { organizationId, deploymentId: In(deploymentIds) }, order: { position: 'ASC' } });
  }

  async targets(em: EntityManager, organizationId: string, deploymentIds: string[]): Promise<DeploymentTarget[]> {
    return em.find(DeploymentTarget, { where: { organizationId, deploymentId: In(deploymentIds) }, order: { agentName: 'ASC', id: 'ASC' } });
  }

  /** The deployment's steps and targets as `advance` works on them. */
  async model(em: EntityManager, d: Deployment, steps: Step[]): Promise<DeploymentModel> {
    const [rows, targets] = await Promise.all([this.steps(em, d.organizationId, [d.id]), this.targets(em, d.organizationId, [d.id])]);
    return {
      guidedFailure: d.guidedFailure,
      cancelRequested: d.cancelRequestedAt !== null,
      steps: rows.map((s): StepModel => ({
        id: s.id,
        position: s.position,
        block: s.block,
        step: steps[s.position],
        state: s.state,
        reason: s.reason,
        ignored: s.ignored,
        targets: targets.filter((t) => t.stepId === s.id).map((t) => ({ id: t.id, agentId: t.agentId, state: t.state, reason: t.reason })),
      })),
    };
  }

  /** Writes back what `advance` (or an answer) changed. */
  async saveModel(em: EntityManager, organizationId: string, model: DeploymentModel): Promise<void> {
    const steps = model.steps;
    await em.query(
      `UPDATE deployment_steps s SET state = x.state, reason = x.reason, ignored = x.ignored
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::boolean[]) AS x(id, state, reason, ignored)
        WHERE s.organization_id = $5 AND s.id = x.id AND (s.state, s.reason, s.ignored) IS DISTINCT FROM (x.state, x.reason, x.ignored)`,
      [steps.map((s) => s.id), steps.map((s) => s.state), steps.map((s) => s.reason), steps.map((s) => s.ignored), organizationId],
    );
    const targets = steps.flatMap((s) => s.targets);
    if (!targets.length) return;
    await em.query(
      `UPDATE deployment_targets t SET state = x.state, reason = x.reason
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(id, state, reason)
        WHERE t.organization_id = $4 AND t.id = x.id AND (t.state, t.reason) IS DISTINCT FROM (x.state, x.reason)`,
      [targets.map((t) => t.id), targets.map((t) => t.state), targets.map((t) => t.reason), organizationId],
    );
  }

  async setJobs(em: EntityManager, organizationId: string, jobs: { targetId: string; jobId: string }[]): Promise<void> {
    if (!jobs.length) return;
    await em.query(`UPDATE deployment_targets t SET job_id = x.job_id FROM unnest($1::uuid[], $2::uuid[]) AS x(id, job_id) WHERE t.organization_id = $3 AND t.id = x.id`, [
      jobs.map((j) => j.targetId),
      jobs.map((j) => j.jobId),
      organizationId,
    ]);
  }

  /**
   * Targets whose job just ended take its outcome. Returns the deployments that may move on:
   * those where a step of an ended target has no job active any more, or has targets waiting for
   * room in its `maxParallelism` window. For the others `advance` could change nothing (a step
   * with jobs still active and none waiting stays as it is until one ends), so they are not read.
   * The deployments are locked before their targets are counted, as `advance` would be: of two
   * transactions ending a step's last two jobs, the second counts after the first has committed.
   */
  async endJobs(em: EntityManager, jobs: { id: string; organizationId: string; state: string; message: string | null }[]): Promise<Pick<Deployment, 'id' | 'organizationId'>[]> {
    const ended = rowsOf<{ organization_id: string; deployment_id: string; step_id: string }>(
      await em.query(
        `UPDATE deployment_targets t
            SET state = CASE x.state WHEN 'succeeded' THEN 'succeeded' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END,
                reason = CASE WHEN x.state = 'succeeded' THEN NULL ELSE x.message END
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS x(id, organization_id, state, message)
          WHERE t.organization_id = x.organization_id AND t.job_id = x.id AND t.state = 'active'
         RETURNING t.organization_id, t.deployment_id, t.step_id`,
        [jobs.map((j) => j.id), jobs.map((j) => j.organizationId), jobs.map((j) => j.state), jobs.map((j) => j.message)],
      ),
    );
    if (!ended.length) return [];
    await em.query(`SELECT d.id FROM deployments d WHERE (d.organization_id, d.id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) ORDER BY d.id FOR UPDATE`, [
      ended.map((e) => e.organization_id),
      ended.map((e) => e.deployment_id),
    ]);
    const movable = await em.query(
      `SELECT DISTINCT t.organization_id AS "organizationId", t.deployment_id AS id
         FROM deployment_targets t
        WHERE (t.organization_id, t.step_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
        GROUP BY t.organization_id, t.deployment_id, t.step_id
       HAVING count(*) FILTER (WHERE t.state = 'active') = 0 OR count(*) FILTER (WHERE t.state = 'pending') > 0
        ORDER BY id`,
      [ended.map((e) => e.organization_id), ended.map((e) => e.step_id)],
    );
    return movable as Pick<Deployment, 'id' | 'organizationId'>[];
  }

  async update(em: EntityManager, organizationId: string, id: string, changes: Partial<Pick<Deployment, 'state' | 'finishedAt' | 'cancelRequestedAt' | 'excludeAgentIds'>>): Promise<void> {
    await em.update(DeploymentEntity, { organizationId, id }, changes);
  }

  openInterruption(em: EntityManager, fields: Pick<Interruption, 'organizationId' | 'deploymentId' | 'stepId' | 'kind' | 'instructions' | 'responsibleRole'>): Promise<Interruption> {
    return em.save(Interruption, em.create(Interruption, fields));
  }

  interruptions(organizationId: string, deploymentIds: string[], em: EntityManager = this.dataSource.manager): Promise<Interruption[]> {
    return em.find(Interruption, { where: { organizationId, deploymentId: In(deploymentIds) }, order: { createdAt: 'ASC' } });
  }

  findInterruption(organizationId: string, id: string): Promise<Interruption | null> {
    return this.dataSource.manager.findOne(Interruption, { where: { organizationId, id } });
  }

  /** Answers the interruption if it is still open; false when someone else answered first. */
  async answer(em: EntityManager, organizationId: string, id: string, answer: Pick<Interruption, 'action' | 'note' | 'answeredBy' | 'answeredByLabel'>): Promise<boolean> {
    const result = await em
      .createQueryBuilder()
      .update(Interruption)
      .set({ ...answer, answeredAt: () => 'now()' })
      .where('organization_id = :organizationId AND id = :id AND action IS NULL', { organizationId, id })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /** The latest deployment of every project to every environment. */
  async latestPerProjectAndEnvironment(organizationId: string): Promise<Deployment[]> {
    return this.dataSource.manager
      .getRepository(DeploymentEntity)
      .createQueryBuilder('d')
      .distinctOn(['d.project_id', 'd.environment_id'])
      .where('d.organization_id = :organizationId', { organizationId })
      .orderBy('d.project_id')
      .addOrderBy('d.environment_id')
      .addOrderBy('d.created_at', 'DESC')
      .getMany();
  }
}
