import { Injectable, type OnModuleInit } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Actor, actorLabel } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { EnvironmentUsers } from '../environments/environment-users';
import { EnvironmentsService } from '../environments/environments.service';
import { DeploymentsErrorCode, DeploymentsException } from './deployments.exception';
import type { CreateReleaseDto } from './dto/release.dto';
import { lifecycleProgress, type NamedEnvironment } from './lifecycle-progress';
import { LifecyclesService } from './lifecycles.service';
import { ProjectsRepository } from './projects.repository';
import { stepsView } from './projects.service';
import type { Release } from './release.entity';
import { nextVersion } from './release-version';
import { ReleasesRepository } from './releases.repository';
import { VariablesService } from '../variables/variables.service';
import { references, variableKey } from '../protocol/substitution';
import { isSystemName } from '../variables/step-variables';

const MAX_RELEASES_LISTED = 200;

export function releaseSummary(r: Release) {
  return { id: r.id, projectId: r.projectId, version: r.version, notes: r.notes, processVersion: r.processVersion, createdBy: r.createdByLabel, createdAt: r.createdAt };
}

@Injectable()
export class ReleasesService implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly releases: ReleasesRepository,
    private readonly projects: ProjectsRepository,
    private readonly lifecycles: LifecyclesService,
    private readonly environments: EnvironmentsService,
    private readonly audit: AuditService,
    private readonly environmentUsers: EnvironmentUsers,
    private readonly variables: VariablesService,
  ) {}

  onModuleInit() {
    // Deployments name their environment by id: the history stays, so an environment with deployments stays too.
    this.environmentUsers.register({
      renamed: async () => undefined,
      uses: async (em, organizationId, { id }) => {
        const count = await this.releases.countDeploymentsTo(em, organizationId, id);
        return { count, what: count === 1 ? 'deployment' : 'deployments' };
      },
    });
  }

  async list(actor: Actor, projectId: string, version?: string) {
    await this.requireProject(actor.organizationId, projectId);
    return (await this.releases.listForProject(actor.organizationId, projectId, MAX_RELEASES_LISTED, version)).map(releaseSummary);
  }

  /** The release with its snapshot, where it has been deployed, and where its lifecycle lets it go now. */
  async get(actor: Actor, id: string) {
    const release = await this.require(actor.organizationId, id);
    const project = await this.requireProject(actor.organizationId, release.projectId);
    const environments = await this.namedEnvironments(actor.organizationId);
    const lifecycle = await this.lifecycles.forProject(actor.organizationId, project.lifecycleId);
    const [latest, succeeded] = await Promise.all([this.releases.latestDeploymentsByEnvironment(actor.organizationId, id), this.releases.succeededEnvironments(actor.organizationId, id)]);
    const progress = lifecycleProgress(lifecycle.phases, environments, succeeded);
    const name = new Map(environments.map((e) => [e.id, e.name]));
    return {
      ...releaseSummary(release),
      steps: stepsView(release.steps, environments),
      variables: await this.variables.view(actor.organizationId, { kind: 'release', id }),
      lifecycle: { id: lifecycle.id, name: lifecycle.name },
      deployments: latest.map((d) => ({
        id: d.id,
        environment: { id: d.environmentId, name: name.get(d.environmentId) ?? null },
        state: d.state,
        createdAt: d.createdAt,
        finishedAt: d.finishedAt,
      })),
      progress: {
        phases: progress.phases,
        allowed: progress.allowed.map((envId) => ({ id: envId, name: name.get(envId)! })),
        next: progress.next.map((envId) => ({ id: envId, name: name.get(envId)! })),
      },
    };
  }

  async create(actor: Actor, projectId: string, body: CreateReleaseDto) {
    return this.dataSource.transaction(async (em) => {
      // The project's row lock orders releases of one project: versions are computed and checked under it.
      const project = await this.projects.lockProject(em, actor.organizationId, projectId);
      if (!project) throw new NotFoundException('project', projectId);
      const process = await this.projects.latestProcess(actor.organizationId, projectId, em);
      if (!process?.steps.length)
        throw new DeploymentsException(
          DeploymentsErrorCode.NO_PROCESS,
          `project "${project.name}" has no deployment process yet; define its steps first (PUT /api/v1/projects/${projectId}/process)`,
        );
      const versions = await this.releases.versions(em, actor.organizationId, projectId);
      const version = body.version ?? nextVersion(versions);
      if (versions.includes(version))
        throw new DeploymentsException(
          DeploymentsErrorCode.VERSION_TAKEN,
          `project "${project.name}" already has a release ${version}; give another version, or leave it out for ${nextVersion(versions)}`,
        );
      const created = await this.releases.create(em, {
        organizationId: actor.organizationId,
        projectId,
        version,
        notes: body.notes ?? '',
        processVersion: process.version,
        steps: process.steps,
        createdBy: actor.userId,
        createdByLabel: actorLabel(actor),
      });
      await this.variables.snapshot(em, actor.organizationId, projectId, project.variableSetIds, created.id);
      await this.audit.record(actor, 'release.created', { type: 'release', id: created.id }, { project: project.name, version, processVersion: process.version }, em);
      return { ...releaseSummary(created), warnings: await this.undefinedNames(em, created) };
    });
  }

  /** Takes the release's snapshot of the project's variables again, as they are now; its process stays. */
  async updateVariables(actor: Actor, id: string) {
    return this.dataSource.transaction(async (em) => {
      const release = await this.require(actor.organizationId, id);
      const project = await this.projects.lockProject(em, actor.organizationId, release.projectId);
      if (!project) throw new NotFoundException('release', id);
      await this.variables.snapshot(em, actor.organizationId, project.id, project.variableSetIds, release.id);
      await this.audit.record(actor, 'release.variables_updated', { type: 'release', id }, { project: project.name, version: release.version }, em);
      return { ...releaseSummary(release), variables: await this.variables.view(actor.organizationId, { kind: 'release', id }, em), warnings: await this.undefinedNames(em, release) };
    });
  }

  /**
   * Names the release's scripts use that no value of its snapshot defines, in any scope: a
   * deployment whose step would run with one fails before anything runs, so say it now.
   */
  private async undefinedNames(em: EntityManager, release: Release): Promise<string[]> {
    const values = await this.variables.openValues(release.organizationId, [{ owner: { kind: 'release', id: release.id }, source: { kind: 'project' } }], em);
    const defined = new Set(values.map((v) => variableKey(v.name)));
    const warnings: string[] = [];
    for (const step of release.steps) {
      if (step.kind !== 'script') continue;
      const missing = references(step.script.body).filter((name) => !defined.has(variableKey(name)) && !isSystemName(name));
      if (missing.length) warnings.push(`step "${step.name}" uses ${missing.map((n) => `#{${n}}`).join(', ')}, which no variable defines`);
    }
    return warnings;
  }

  async require(organizationId: string, id: string): Promise<Release> {
    const found = isUUID(id) ? await this.releases.findInOrganization(organizationId, id) : null;
    if (!found) throw new NotFoundException('release', id);
    return found;
  }

  private async requireProject(organizationId: string, id: string) {
    const found = await this.projects.findInOrganization(organizationId, id);
    if (!found) throw new NotFoundException('project', id);
    return found;
  }

  private async namedEnvironments(organizationId: string): Promise<NamedEnvironment[]> {
    return (await this.environments.inOrder(organizationId)).map((e) => ({ id: e.id, name: e.name }));
  }
}
