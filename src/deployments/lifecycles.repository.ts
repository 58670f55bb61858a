import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Lifecycle } from './lifecycle.entity';

@Injectable()
export class LifecyclesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The organisation's default lifecycle, made (with no phases) the first time it is needed. */
  async defaultFor(organizationId: string, em: EntityManager = this.dataSource.manager): Promise<Lifecycle> {
    await em.query(
      `INSERT INTO lifecycles (organization_id, name, is_default) VALUES ($1, 'Default lifecycle', true)
       ON CONFLICT (organization_id) WHERE is_default DO NOTHING`,
      [organizationId],
    );
    return em.findOneOrFail(Lifecycle, { where: { organizationId, isDefault: true } });
  }

  /** The default first, then by name. */
  list(organizationId: string): Promise<Lifecycle[]> {
    return this.dataSource.manager.find(Lifecycle, { where: { organizationId }, order: { isDefault: 'DESC', name: 'ASC' } });
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Lifecycle | null> {
    return em.findOne(Lifecycle, { where: { organizationId, id } });
  }

  findByName(organizationId: string, name: string, em: EntityManager): Promise<Lifecycle | null> {
    return em.getRepository(Lifecycle).createQueryBuilder('l').where('l.organization_id = :organizationId AND lower(l.name) = lower(:name)', { organizationId, name }).getOne();
  }

  /** Serialises changes to one organisation's lifecycles until the transaction ends. */
  async lock(em: EntityManager, organizationId: string): Promise<void> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext('lifecycles'), hashtext($1))`, [organizationId]);
  }

  create(em: EntityManager, input: Pick<Lifecycle, 'organizationId' | 'name' | 'description' | 'phases'>): Promise<Lifecycle> {
    return em.save(Lifecycle, em.create(Lifecycle, { ...input, isDefault: false }));
  }

  async update(em: EntityManager, organizationId: string, id: string, changes: Partial<Pick<Lifecycle, 'name' | 'description' | 'phases'>>): Promise<void> {
    await em.update(Lifecycle, { organizationId, id }, changes);
  }

  async delete(em: EntityManager, organizationId: string, id: string): Promise<void> {
    await em.delete(Lifecycle, { organizationId, id, isDefault: false });
  }

  /** Names of the lifecycles with a phase on this environment. */
  async namesUsing(em: EntityManager, organizationId: string, environmentId: string): Promise<string[]> {
    const rows = await em.query<{ name: string }[]>(
      `SELECT name FROM lifecycles l WHERE organization_id = $1 AND EXISTS (SELECT 1 FROM jsonb_array_elements(l.phases) p WHERE p -> 'environmentIds' ? $2) ORDER BY name`,
      [organizationId, environmentId],
    );
    return rows.map((r) => r.name);
  }
}
