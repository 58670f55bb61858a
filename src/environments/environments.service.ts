import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import type { CreateEnvironmentDto, UpdateEnvironmentDto } from './dto/environment.dto';
import type { Environment } from './environment.entity';
import { EnvironmentUsers } from './environment-users';
import { EnvironmentsErrorCode, EnvironmentsException } from './environments.exception';
import { EnvironmentsRepository } from './environments.repository';

export function environmentView(e: Environment) {
  return { id: e.id, name: e.name, description: e.description, guidedFailure: e.guidedFailure, position: e.position, createdAt: e.createdAt };
}

@Injectable()
export class EnvironmentsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly environments: EnvironmentsRepository,
    private readonly users: EnvironmentUsers,
    private readonly audit: AuditService,
  ) {}

  async list(actor: Actor) {
    return (await this.environments.list(actor.organizationId)).map(environmentView);
  }

  async get(actor: Actor, id: string) {
    return environmentView(await this.require(actor.organizationId, id));
  }

  /** The organisation's environments, in its order. */
  inOrder(organizationId: string, em?: EntityManager): Promise<Environment[]> {
    return this.environments.list(organizationId, em);
  }

  /**
   * The environments these ids or names (case ignored) refer to, as they are spelled, in the order
   * asked; 422 naming every one that does not exist.
   */
  async resolve(organizationId: string, refs: string[], em?: EntityManager): Promise<Environment[]> {
    const unique = [...new Set(refs)];
    const found = await this.environments.findByIdsOrNames(organizationId, unique, em);
    const match = (ref: string) => found.find((e) => e.id === ref || e.name.toLowerCase() === ref.toLowerCase());
    const missing = unique.filter((ref) => !match(ref));
    if (missing.length)
      throw new EnvironmentsException(
        EnvironmentsErrorCode.UNKNOWN_ENVIRONMENT,
        `no environment ${missing.map((m) => `"${m}"`).join(', ')} in this organisation; create it first (POST /api/v1/environments) or pick one of: ${(await this.environments.list(organizationId, em)).map((e) => e.name).join(', ') || 'none yet'}`,
        { missing },
      );
    return [...new Map(unique.map((ref) => [match(ref)!.id, match(ref)!])).values()];
  }

  async create(actor: Actor, body: CreateEnvironmentDto) {
    return this.dataSource.transaction(async (em) => {
      await this.environments.lock(em, actor.organizationId);
      await this.assertNameFree(em, actor.organizationId, body.name);
      const created = await this.environments.create(em, {
        organizationId: actor.organizationId,
        name: body.name,
        description: body.description ?? '',
        guidedFailure: body.guidedFailure ?? false,
      });
      await this.audit.record(actor, 'environment.created', { type: 'environment', id: created.id }, { name: created.name }, em);
      return environmentView(created);
    });
  }

  /** A rename is carried into everything that refers to the environment by name, in the same transaction. */
  async update(actor: Actor, id: string, body: UpdateEnvironmentDto) {
    return this.dataSource.transaction(async (em) => {
      await this.environments.lock(em, actor.organizationId);
      const existing = await this.require(actor.organizationId, id, em);
      const renamed = body.name !== undefined && body.name !== existing.name;
      if (renamed && body.name!.toLowerCase() !== existing.name.toLowerCase()) await this.assertNameFree(em, actor.organizationId, body.name!);
      const changes = {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.guidedFailure !== undefined ? { guidedFailure: body.guidedFailure } : {}),
      };
      // Nothing to change is an answer, not an update (nor an audit event).
      if (!Object.keys(changes).length) return environmentView(existing);
      await this.environments.update(em, actor.organizationId, id, changes);
      if (renamed) await this.users.renamed(em, actor.organizationId, existing.name, body.name!);
      await this.audit.record(actor, 'environment.updated', { type: 'environment', id }, { ...(renamed ? { from: existing.name } : {}), ...changes }, em);
      return environmentView({ ...existing, ...changes });
    });
  }

  /** `ids` must name every environment of the organisation once. */
  async order(actor: Actor, ids: string[]) {
    return this.dataSource.transaction(async (em) => {
      await this.environments.lock(em, actor.organizationId);
      const all = await this.environments.list(actor.organizationId, em);
      const known = new Set(all.map((e) => e.id));
      const unknown = ids.filter((id) => !known.has(id));
      if (unknown.length) throw new NotFoundException('environment', unknown[0]);
      const missing = all.filter((e) => !ids.includes(e.id));
      if (missing.length || new Set(ids).size !== ids.length)
        throw new EnvironmentsException(
          EnvironmentsErrorCode.ORDER_INCOMPLETE,
          `send every environment id exactly once, in the order wanted${missing.length ? `; missing: ${missing.map((e) => e.name).join(', ')}` : '; some id is repeated'}`,
        );
      await this.environments.reorder(em, actor.organizationId, ids);
      const names = ids.map((id) => all.find((e) => e.id === id)!.name);
      await this.audit.record(actor, 'environment.reordered', undefined, { order: names }, em);
      return (await this.environments.list(actor.organizationId, em)).map(environmentView);
    });
  }

  async delete(actor: Actor, id: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      await this.environments.lock(em, actor.organizationId);
      const existing = await this.require(actor.organizationId, id, em);
      const uses = await this.users.uses(em, actor.organizationId, existing);
      if (uses.length)
        throw new EnvironmentsException(
          EnvironmentsErrorCode.ENVIRONMENT_IN_USE,
          `environment "${existing.name}" is still used by ${uses.join(', ')}; take it off them first (agents: PATCH /api/v1/agents/:id {environments}; lifecycles: PATCH /api/v1/lifecycles/:id {phases})`,
        );
      await this.environments.delete(em, actor.organizationId, id);
      await this.audit.record(actor, 'environment.deleted', { type: 'environment', id }, { name: existing.name }, em);
    });
  }

  private async require(organizationId: string, id: string, em?: EntityManager): Promise<Environment> {
    const found = await this.environments.findInOrganization(organizationId, id, em);
    if (!found) throw new NotFoundException('environment', id);
    return found;
  }

  private async assertNameFree(em: EntityManager, organizationId: string, name: string) {
    const [clash] = await this.environments.findByIdsOrNames(organizationId, [name], em);
    if (clash && clash.name.toLowerCase() === name.toLowerCase())
      throw new EnvironmentsException(EnvironmentsErrorCode.ENVIRONMENT_EXISTS, `an environment named "${clash.name}" already exists; pick another name`);
  }
}
