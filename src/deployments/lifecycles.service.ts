import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { EnvironmentUsers } from '../environments/environment-users';
import { EnvironmentsService } from '../environments/environments.service';
import { DeploymentsErrorCode, DeploymentsException } from './deployments.exception';
import type { CreateLifecycleDto, PhaseDto, UpdateLifecycleDto } from './dto/lifecycle.dto';
import { effectivePhases, type NamedEnvironment, type Phase } from './lifecycle-progress';
import type { Lifecycle } from './lifecycle.entity';
import { LifecyclesRepository } from './lifecycles.repository';
import { ProjectsRepository } from './projects.repository';

/** `default` names the organisation's default lifecycle wherever an id is asked for. */
export const DEFAULT_LIFECYCLE = 'default';

/** A lifecycle as the API shows it: environments by id and name, the default's phases as they follow the environments. */
export function lifecycleView(l: Lifecycle, environments: NamedEnvironment[]) {
  const byId = new Map(environments.map((e) => [e.id, e]));
  const named = (ids: string[]) => ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
  return {
    id: l.id,
    name: l.name,
    description: l.description,
    isDefault: l.isDefault,
    // With no phases of its own, it has one per environment, in order, as they are now.
    followsEnvironmentOrder: l.phases.length === 0,
    phases: effectivePhases(l.phases, environments).map((p) => ({
      name: p.name,
      environments: named(p.environmentIds),
      minSuccessful: p.minSuccessful,
      optional: p.optional,
      autoDeploy: named(p.autoDeployEnvironmentIds),
    })),
    createdAt: l.createdAt,
    updatedAt: l.updatedAt,
  };
}

@Injectable()
export class LifecyclesService implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly lifecycles: LifecyclesRepository,
    private readonly projects: ProjectsRepository,
    private readonly environments: EnvironmentsService,
    private readonly environmentUsers: EnvironmentUsers,
    private readonly audit: AuditService,
  ) {}

  onModuleInit() {
    // Phases name environments by id: a rename changes nothing here, and a deletion waits until no phase has it.
    this.environmentUsers.register({
      renamed: async () => undefined,
      uses: async (em, organizationId, { id }) => {
        const count = (await this.lifecycles.namesUsing(em, organizationId, id)).length;
        return { count, what: count === 1 ? 'lifecycle' : 'lifecycles' };
      },
    });
  }

  async list(actor: Actor) {
    await this.lifecycles.defaultFor(actor.organizationId);
    const [all, environments] = await Promise.all([this.lifecycles.list(actor.organizationId), this.environmentList(actor.organizationId)]);
    return all.map((l) => lifecycleView(l, environments));
  }

  async get(actor: Actor, id: string) {
    return lifecycleView(await this.require(actor.organizationId, id), await this.environmentList(actor.organizationId));
  }

  /** The lifecycle by id (or `default`); 404 when it is not the organisation's. */
  async require(organizationId: string, id: string, em?: EntityManager): Promise<Lifecycle> {
    const found = await this.find(organizationId, id, em);
    if (!found) throw new NotFoundException('lifecycle', id);
    return found;
  }

  find(organizationId: string, id: string, em?: EntityManager): Promise<Lifecycle | null> {
    return id === DEFAULT_LIFECYCLE ? this.lifecycles.defaultFor(organizationId, em) : this.lifecycles.findInOrganization(organizationId, id, em);
  }

  /** The lifecycle a project follows (its own, or the default). */
  forProject(organizationId: string, lifecycleId: string | null, em?: EntityManager): Promise<Lifecycle> {
    return this.require(organizationId, lifecycleId ?? DEFAULT_LIFECYCLE, em);
  }

  async create(actor: Actor, body: CreateLifecycleDto) {
    return this.dataSource.transaction(async (em) => {
      await this.lifecycles.lock(em, actor.organizationId);
      // The default exists before any other, so that its name is taken too.
      await this.lifecycles.defaultFor(actor.organizationId, em);
      await this.assertNameFree(em, actor.organizationId, body.name);
      const phases = await this.phases(actor.organizationId, body.phases ?? [], em);
      const created = await this.lifecycles.create(em, { organizationId: actor.organizationId, name: body.name, description: body.description ?? '', phases });
      await this.audit.record(actor, 'lifecycle.created', { type: 'lifecycle', id: created.id }, { name: created.name, phases: phases.map((p) => p.name) }, em);
      return lifecycleView(created, await this.environmentList(actor.organizationId, em));
    });
  }

  async update(actor: Actor, id: string, body: UpdateLifecycleDto) {
    return this.dataSource.transaction(async (em) => {
      await this.lifecycles.lock(em, actor.organizationId);
      const existing = await this.require(actor.organizationId, id, em);
      if (body.name !== undefined && body.name.toLowerCase() !== existing.name.toLowerCase()) await this.assertNameFree(em, actor.organizationId, body.name);
      const changes = {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.phases !== undefined ? { phases: await this.phases(actor.organizationId, body.phases, em) } : {}),
      };
      await this.lifecycles.update(em, actor.organizationId, existing.id, changes);
      await this.audit.record(actor, 'lifecycle.updated', { type: 'lifecycle', id: existing.id }, { name: changes.name ?? existing.name, changed: Object.keys(changes) }, em);
      return lifecycleView({ ...existing, ...changes }, await this.environmentList(actor.organizationId, em));
    });
  }

  async delete(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await this.lifecycles.lock(em, actor.organizationId);
      const existing = await this.require(actor.organizationId, id, em);
      if (existing.isDefault) throw new DeploymentsException(DeploymentsErrorCode.LIFECYCLE_IS_DEFAULT, 'the default lifecycle cannot be deleted; change its phases instead');
      const projects = await this.projects.namesUsingLifecycle(em, actor.organizationId, existing.id);
      if (projects.length)
        throw new DeploymentsException(
          DeploymentsErrorCode.LIFECYCLE_IN_USE,
          `lifecycle "${existing.name}" is followed by ${projects.length === 1 ? 'project' : 'projects'} ${projects.map((p) => `"${p}"`).join(', ')}; give them another lifecycle first`,
        );
      await this.lifecycles.delete(em, actor.organizationId, existing.id);
      await this.audit.record(actor, 'lifecycle.deleted', { type: 'lifecycle', id: existing.id }, { name: existing.name }, em);
    });
  }

  /** Phases as stored (environments by id), once they make sense; 422 saying what does not. */
  private async phases(organizationId: string, given: PhaseDto[], em: EntityManager): Promise<Phase[]> {
    const problems: string[] = [];
    const seenPhases = new Set<string>();
    const phaseOf = new Map<string, string>();
    const phases: Phase[] = [];
    for (const p of given) {
      if (seenPhases.has(p.name.toLowerCase())) problems.push(`phase "${p.name}" appears twice; phase names are unique`);
      seenPhases.add(p.name.toLowerCase());
      const envs = await this.environments.resolve(organizationId, p.environments, em);
      const auto = await this.environments.resolve(organizationId, p.autoDeploy ?? [], em);
      for (const e of envs) {
        const other = phaseOf.get(e.id);
        if (other !== undefined) problems.push(`environment "${e.name}" is in phases "${other}" and "${p.name}"; an environment belongs to one phase`);
        phaseOf.set(e.id, p.name);
      }
      for (const e of auto) if (!envs.some((x) => x.id === e.id)) problems.push(`phase "${p.name}" auto-deploys to "${e.name}", which is not one of its environments`);
      if (p.minSuccessful !== undefined && p.minSuccessful > envs.length) problems.push(`phase "${p.name}" needs ${p.minSuccessful} successful environments but has only ${envs.length}`);
      phases.push({ name: p.name, environmentIds: envs.map((e) => e.id), minSuccessful: p.minSuccessful ?? null, optional: p.optional ?? false, autoDeployEnvironmentIds: auto.map((e) => e.id) });
    }
    if (problems.length) throw new DeploymentsException(DeploymentsErrorCode.INVALID_LIFECYCLE, problems.join('; '), { problems });
    return phases;
  }

  private async environmentList(organizationId: string, em?: EntityManager): Promise<NamedEnvironment[]> {
    return (await this.environments.inOrder(organizationId, em)).map((e) => ({ id: e.id, name: e.name }));
  }

  private async assertNameFree(em: EntityManager, organizationId: string, name: string) {
    const clash = await this.lifecycles.findByName(organizationId, name, em);
    if (clash) throw new DeploymentsException(DeploymentsErrorCode.NAME_TAKEN, `a lifecycle named "${clash.name}" already exists; pick another name`);
  }
}
