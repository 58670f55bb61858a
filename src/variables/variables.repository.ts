import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, In } from 'typeorm';
import { VariableSet } from './variable-set.entity';
import { Variable, type VariableOwner } from './variable.entity';

export interface Owner {
  kind: VariableOwner;
  id: string;
}

export type NewVariable = Omit<Variable, 'organization' | 'createdAt'>;

@Injectable()
export class VariablesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The owner's values, in the order the user gave them. */
  list(organizationId: string, owner: Owner, em: EntityManager = this.dataSource.manager): Promise<Variable[]> {
    return em.find(Variable, { where: { organizationId, ownerKind: owner.kind, ownerId: owner.id }, order: { position: 'ASC' } });
  }

  /** Puts `rows` in place of every value the owner had. */
  async replace(em: EntityManager, organizationId: string, owner: Owner, rows: NewVariable[]): Promise<void> {
    await this.deleteOwner(em, organizationId, owner);
    if (rows.length) await em.insert(Variable, rows);
  }

  async deleteOwner(em: EntityManager, organizationId: string, owner: Owner): Promise<void> {
    await em.delete(Variable, { organizationId, ownerKind: owner.kind, ownerId: owner.id });
  }

  async deleteOwners(em: EntityManager, organizationId: string, kind: Owner['kind'], ids: string[]): Promise<void> {
    await em.delete(Variable, { organizationId, ownerKind: kind, ownerId: In(ids) });
  }

  /** How many project and library-set values are scoped to this environment. */
  async countScopedToEnvironment(em: EntityManager, organizationId: string, environmentId: string): Promise<number> {
    const [row] = await em.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM variables WHERE organization_id = $1 AND owner_kind IN ('project', 'set') AND scope -> 'environments' ? $2`, [
      organizationId,
      environmentId,
    ]);
    return row.n;
  }

  /** Serialises changes to one organisation's variable sets until the transaction ends. */
  async lockSets(em: EntityManager, organizationId: string): Promise<void> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext('variable_sets'), hashtext($1))`, [organizationId]);
  }

  listSets(organizationId: string, em: EntityManager = this.dataSource.manager): Promise<VariableSet[]> {
    return em.find(VariableSet, { where: { organizationId }, order: { name: 'ASC' } });
  }

  findSets(organizationId: string, ids: string[], em: EntityManager = this.dataSource.manager): Promise<VariableSet[]> {
    return ids.length ? em.find(VariableSet, { where: { organizationId, id: In(ids) } }) : Promise.resolve([]);
  }

  findSetByName(em: EntityManager, organizationId: string, name: string, except?: string): Promise<VariableSet | null> {
    const q = em.getRepository(VariableSet).createQueryBuilder('s').where('s.organization_id = :organizationId AND lower(s.name) = lower(:name)', { organizationId, name });
    if (except) q.andWhere('s.id <> :except', { except });
    return q.getOne();
  }

  createSet(em: EntityManager, input: Pick<VariableSet, 'organizationId' | 'name' | 'description'>): Promise<VariableSet> {
    return em.save(VariableSet, em.create(VariableSet, input));
  }

  async updateSet(em: EntityManager, organizationId: string, id: string, changes: Partial<Pick<VariableSet, 'name' | 'description'>>): Promise<void> {
    await em.update(VariableSet, { organizationId, id }, changes);
  }

  async deleteSet(em: EntityManager, organizationId: string, id: string): Promise<void> {
    await this.deleteOwner(em, organizationId, { kind: 'set', id });
    await em.delete(VariableSet, { organizationId, id });
  }
}
