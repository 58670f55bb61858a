import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Organization } from './organization.entity';

@Injectable()
export class OrganizationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  findById(id: string): Promise<Organization | null> {
    return this.dataSource.manager.findOne(Organization, { where: { id } });
  }

  /** Creates an organisation with a unique slug derived from its name. */
  async create(name: string, em: EntityManager = this.dataSource.manager): Promise<Organization> {
    const base =
      name
        .toLowerCase()
        .normalize('NFKD')
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, '')
        .slice(0, 40) || 'org';
    const taken = await em.query<{ slug: string }[]>(`SELECT slug FROM organizations WHERE slug = $1 OR slug LIKE $2`, [base, `${base}-%`]);
    const used = new Set(taken.map((r) => r.slug));
    let slug = base;
    for (let n = 2; used.has(slug); n++) slug = `${base}-${n}`;
    return em.save(Organization, em.create(Organization, { name, slug }));
  }
}
