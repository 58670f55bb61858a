import { Injectable, type OnModuleInit } from '@nestjs/common';
import { isUUID } from 'class-validator';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Actor, actorLabel } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { parseOrReject } from '../common/validation';
import { EnvironmentsService } from '../environments/environments.service';
import { DeploymentsErrorCode, DeploymentsException } from './deployments.exception';
import type { CreateProjectDto, UpdateProjectDto, VariablesPreviewQuery } from './dto/project.dto';
import type { NamedEnvironment } from './lifecycle-progress';
import { DEFAULT_LIFECYCLE, LifecyclesService } from './lifecycles.service';
import type { ProcessVersion } from './process-version.entity';
import { DEFAULT_STEP_TIMEOUT_SECONDS, ProcessInputSchema, type Step, type StepInput } from './process.schema';
import type { Project } from './project.entity';
import { ProjectsRepository } from './projects.repository';
import { VariablesService } from '../variables/variables.service';
import { stepVariables } from '../variables/step-variables';
import { AgentsRepository } from '../agents/agents.repository';
import { MASK } from '../protocol/masking';

export function projectView(p: Project) {
  return {
    id: p.id,
    name: p.name,
    slug: p.slug,
    description: p.description,
    lifecycleId: p.lifecycleId ?? DEFAULT_LIFECYCLE,
    variableSetIds: p.variableSetIds,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

/** Steps as the API shows them: environments by id and name. */
export function stepsView(steps: Step[], environments: NamedEnvironment[]) {
  const byId = new Map(environments.map((e) => [e.id, e]));
  return steps.map(({ environmentIds, ...step }) => ({ ...step, environments: environmentIds.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : [])) }));
}

function slugOf(name: string): string {
  return (
    name
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60)
      .replace(/-+$/, '') || 'project'
  );
}

@Injectable()
export class ProjectsService implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly projects: ProjectsRepository,
    private readonly lifecycles: LifecyclesService,
    private readonly environments: EnvironmentsService,
    private readonly audit: AuditService,
    private readonly variables: VariablesService,
    private readonly agents: AgentsRepository,
  ) {}

  onModuleInit() {
    this.variables.setUsers = (em, organizationId, setId) => this.projects.namesIncludingSet(em, organizationId, setId);
  }

  async list(actor: Actor) {
    return (await this.projects.list(actor.organizationId)).map(projectView);
  }

  async get(actor: Actor, id: string) {
    return projectView(await this.require(actor.organizationId, id));
  }

  async require(organizationId: string, id: string, em?: EntityManager): Promise<Project> {
    const found = isUUID(id) ? await this.projects.findInOrganization(organizationId, id, em) : null;
    if (!found) throw new NotFoundException('project', id);
    return found;
  }

  async create(actor: Actor, body: CreateProjectDto) {
    return this.dataSource.transaction(async (em) => {
      await this.projects.lock(em, actor.organizationId);
      const slug = body.slug ?? (await this.freeSlot(em, actor.organizationId, slugOf(body.name)));
      await this.assertFree(em, actor.organizationId, body.name, slug);
      const lifecycleId = await this.lifecycleId(actor.organizationId, body.lifecycleId, em);
      const created = await this.projects.create(em, { organizationId: actor.organizationId, name: body.name, slug, description: body.description ?? '', lifecycleId });
      await this.audit.record(actor, 'project.created', { type: 'project', id: created.id }, { name: created.name, slug }, em);
      return projectView(created);
    });
  }

  async update(actor: Actor, id: string, body: UpdateProjectDto) {
    return this.dataSource.transaction(async (em) => {
      await this.projects.lock(em, actor.organizationId);
      const existing = await this.require(actor.organizationId, id, em);
      await this.assertFree(em, actor.organizationId, body.name ?? existing.name, body.slug ?? existing.slug, existing.id);
      const changes = {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.slug !== undefined ? { slug: body.slug } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.lifecycleId !== undefined ? { lifecycleId: await this.lifecycleId(actor.organizationId, body.lifecycleId, em) } : {}),
        ...(body.variableSetIds !== undefined ? { variableSetIds: (await this.variables.requireSets(actor.organizationId, body.variableSetIds, em)).map((set) => set.id) } : {}),
      };
      await this.projects.update(em, actor.organizationId, id, changes);
      await this.audit.record(actor, 'project.updated', { type: 'project', id }, { name: changes.name ?? existing.name, changed: Object.keys(changes) }, em);
      return projectView({ ...existing, ...changes });
    });
  }

  async delete(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const existing = await this.require(actor.organizationId, id, em);
      await this.variables.deleteOwners(em, actor.organizationId, [
        { kind: 'project', ids: [id] },
        { kind: 'release', ids: await this.projects.releaseIds(em, actor.organizationId, id) },
        { kind: 'deployment', ids: await this.projects.deploymentIds(em, actor.organizationId, id) },
      ]);
      await this.projects.delete(em, actor.organizationId, id);
      await this.audit.record(actor, 'project.deleted', { type: 'project', id }, { name: existing.name }, em);
    });
  }

  async getVariables(actor: Actor, projectId: string) {
    await this.require(actor.organizationId, projectId);
    return this.variables.view(actor.organizationId, { kind: 'project', id: projectId });
  }

  /** Saves the project's whole list of variables; releases made before keep their snapshot. */
  async putVariables(actor: Actor, projectId: string, body: unknown) {
    return this.dataSource.transaction(async (em) => {
      const project = await this.projects.lockProject(em, actor.organizationId, projectId);
      if (!project) throw new NotFoundException('project', projectId);
      return this.variables.replace(em, actor, { kind: 'project', id: projectId, name: project.name }, body);
    });
  }

  /**
   * The values a step would see in an environment on an agent (its roles count), with the scope
   * each came from; sensitive ones as `***`. System variables need a deployment and are left out.
   */
  async previewVariables(actor: Actor, projectId: string, query: VariablesPreviewQuery) {
    const organizationId = actor.organizationId;
    const project = await this.require(organizationId, projectId);
    const em = this.dataSource.manager;
    const [environment] = query.environment ? await this.environments.resolve(organizationId, [query.environment], em) : [];
    const [agent] = query.agent ? await this.agents.findByIdsOrNames(em, organizationId, [query.agent]) : [];
    if (query.agent && !agent) throw new DeploymentsException(DeploymentsErrorCode.UNKNOWN_AGENT, `there is no agent "${query.agent}" in this organisation`);
    const values = await this.variables.openValues(organizationId, await this.variables.projectSources(organizationId, projectId, project.variableSetIds, em));
    const label = await this.variables.labels(organizationId, values);
    const seen = stepVariables(values, { environmentId: environment?.id, agentId: agent?.id, roles: agent?.roles ?? [], step: query.step }, [], new Map(), label);
    return {
      environment: environment ? { id: environment.id, name: environment.name } : null,
      agent: agent ? { id: agent.id, name: agent.name, roles: agent.roles } : null,
      step: query.step ?? null,
      variables: seen.variables.sort((a, b) => a.name.localeCompare(b.name)).map((v) => ({ name: v.name, value: v.sensitive ? MASK : v.value, sensitive: v.sensitive, from: v.reason })),
    };
  }

  /** The latest version of the project's process (version 0, with no steps, before the first is saved). */
  async getProcess(actor: Actor, projectId: string) {
    await this.require(actor.organizationId, projectId);
    return this.processView(actor.organizationId, projectId, await this.projects.latestProcess(actor.organizationId, projectId));
  }

  /** Saves the steps as the project's next process version; releases made before keep theirs. */
  async putProcess(actor: Actor, projectId: string, body: unknown) {
    const input = parseOrReject(ProcessInputSchema, body);
    return this.dataSource.transaction(async (em) => {
      const project = await this.projects.lockProject(em, actor.organizationId, projectId);
      if (!project) throw new NotFoundException('project', projectId);
      const steps = await this.steps(actor.organizationId, input.steps, em);
      const saved = await this.projects.addProcessVersion(em, { organizationId: actor.organizationId, projectId, steps, createdBy: actor.userId, createdByLabel: actorLabel(actor) });
      await this.audit.record(actor, 'process.updated', { type: 'project', id: projectId }, { version: saved.version, steps: steps.map((s) => s.name) }, em);
      return this.processView(actor.organizationId, projectId, saved, em);
    });
  }

  private async processView(organizationId: string, projectId: string, version: ProcessVersion | null, em?: EntityManager) {
    const environments = (await this.environments.inOrder(organizationId, em)).map((e) => ({ id: e.id, name: e.name }));
    return {
      projectId,
      version: version?.version ?? 0,
      steps: stepsView(version?.steps ?? [], environments),
      createdBy: version?.createdByLabel ?? null,
      createdAt: version?.createdAt ?? null,
    };
  }

  /** Steps as stored, once they make sense together; 422 saying what does not. */
  private async steps(organizationId: string, input: StepInput[], em: EntityManager): Promise<Step[]> {
    const problems: string[] = [];
    const names = new Set<string>();
    const steps: Step[] = [];
    for (const [i, s] of input.entries()) {
      if (names.has(s.name.toLowerCase())) problems.push(`step name "${s.name}" is used twice; step names are unique in a process`);
      names.add(s.name.toLowerCase());
      const environmentIds = (await this.environments.resolve(organizationId, s.environments ?? [], em)).map((e) => e.id);
      const condition = s.condition ?? 'success';
      if (s.kind === 'manual') {
        steps.push({ kind: 'manual', name: s.name, environmentIds, condition, instructions: s.instructions, responsibleRole: s.responsibleRole ?? 'admin' });
        continue;
      }
      if (s.startWithPrevious && (i === 0 || input[i - 1].kind === 'manual'))
        problems.push(`step "${s.name}" starts with the previous step, but ${i === 0 ? 'it is the first' : 'that one is a manual intervention'}`);
      steps.push({
        kind: 'script',
        name: s.name,
        environmentIds,
        condition,
        script: s.script,
        targetRoles: [...new Set(s.targetRoles)],
        startWithPrevious: s.startWithPrevious ?? false,
        required: s.required ?? false,
        maxParallelism: s.maxParallelism ?? null,
        maxErrors: s.maxErrors ?? null,
        timeoutSeconds: s.timeoutSeconds ?? DEFAULT_STEP_TIMEOUT_SECONDS,
      });
    }
    if (problems.length) throw new DeploymentsException(DeploymentsErrorCode.INVALID_PROCESS, problems.join('; '), { problems });
    return steps;
  }

  private async lifecycleId(organizationId: string, given: string | null | undefined, em: EntityManager): Promise<string | null> {
    if (given === undefined || given === null || given === DEFAULT_LIFECYCLE) return null;
    const lifecycle = isUUID(given) ? await this.lifecycles.find(organizationId, given, em) : null;
    if (!lifecycle)
      throw new DeploymentsException(DeploymentsErrorCode.UNKNOWN_LIFECYCLE, `no lifecycle "${given}" in this organisation; see GET /api/v1/lifecycles, or leave lifecycleId out for the default`);
    return lifecycle.isDefault ? null : lifecycle.id;
  }

  private async freeSlot(em: EntityManager, organizationId: string, base: string): Promise<string> {
    for (let n = 1; ; n++) {
      const slug = n === 1 ? base : `${base}-${n}`;
      if (!(await this.projects.slugTaken(em, organizationId, slug))) return slug;
    }
  }

  private async assertFree(em: EntityManager, organizationId: string, name: string, slug: string, except?: string) {
    const clash = await this.projects.findClash(em, organizationId, name, slug, except);
    if (!clash) return;
    const what = clash.name.toLowerCase() === name.toLowerCase() ? `named "${clash.name}"` : `with the slug "${slug}"`;
    throw new DeploymentsException(DeploymentsErrorCode.NAME_TAKEN, `a project ${what} already exists; pick another`);
  }
}
