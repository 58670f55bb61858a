import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Environment } from './environment.entity';

@Injectable()
export class EnvironmentsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** In the organisation's order. */
  list(organizationId: string, em: EntityManager = this.dataSource.manager): Promise<Environment[]> {
    return em.find(Environment, { where: { organizationId }, order: { position: 'ASC', createdAt: 'ASC' } });
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Environment | null> {
    return em.findOne(Environment, { where: { organizationId, id } });
  }

  /** Environments by id or by name (case ignored), with what each was asked for by. */
  async findByIdsOrNames(organizationId: string, refs: string[], em: EntityManager = this.dataSource.manager): Promise<Environment[]> {
    if (!refs.length) return [];
    return em
      .getRepository(Environment)
      .createQueryBuilder('e')
      .where('e.organization_id = :organizationId', { organizationId })
      .andWhere('(e.id::text = ANY(:refs) OR lower(e.name) = ANY(:lower))', { refs, lower: refs.map((r) => r.toLowerCase()) })
      .getMany();
  }

  /** Serialises changes to one organisation's environments (names and order) until the transaction ends. */
  async lock(em: EntityManager, organizationId: string): Promise<void> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext('environments'), hashtext($1))`, [organizationId]);
  }

  /** A new environment, last in the order; the caller holds `lock`. */
  async create(em: EntityManager, input: Pick<Environment, 'organizationId' | 'name' | 'description' | 'guidedFailure'>): Promise<Environment> {
    const [{ next }] = await em.query<{ next: number }[]>(`SELECT COALESCE(max(position) + 1, 0)::int AS next FROM environments WHERE organization_id = $1`, [input.organizationId]);
    return em.save(Environment, em.create(Environment, { ...input, position: next }));
  }

  async update(em: EntityManager, organizationId: string, id: string, changes: Partial<Pick<Environment, 'name' | 'description' | 'guidedFailure'>>): Promise<void> {
    await em.update(Environment, { organizationId, id }, changes);
  }

  async reorder(em: EntityManager, organizationId: string, ids: string[]): Promise<void> {
    await em.query(`UPDATE environments e SET position = o.n - 1 FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, n) WHERE e.organization_id = $1 AND e.id = o.id`, [organizationId, ids]);
  }

  async delete(em: EntityManager, organizationId: string, id: string): Promise<void> {
    await em.delete(Environment, { organizationId, id });
  }
}
