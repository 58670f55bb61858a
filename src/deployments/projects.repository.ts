import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { ProcessVersion } from './process-version.entity';
import { Project } from './project.entity';

@Injectable()
export class ProjectsRepository {
  constructor(private readonly dataSource: DataSource) {}

  list(organizationId: string): Promise<Project[]> {
    return this.dataSource.manager.find(Project, { where: { organizationId }, order: { name: 'ASC' } });
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Project | null> {
    return em.findOne(Project, { where: { organizationId, id } });
  }

  /** A project whose name or slug clashes with these (case ignored), other than `except`. */
  findClash(em: EntityManager, organizationId: string, name: string, slug: string, except?: string): Promise<Project | null> {
    const q = em.getRepository(Project).createQueryBuilder('p').where('p.organization_id = :organizationId AND (lower(p.name) = lower(:name) OR p.slug = :slug)', { organizationId, name, slug });
    if (except) q.andWhere('p.id <> :except', { except });
    return q.getOne();
  }

  async slugTaken(em: EntityManager, organizationId: string, slug: string): Promise<boolean> {
    return em.exists(Project, { where: { organizationId, slug } });
  }

  /** Serialises changes to one organisation's projects until the transaction ends. */
  async lock(em: EntityManager, organizationId: string): Promise<void> {
    await em.query(`SELECT pg_advisory_xact_lock(hashtext('projects'), hashtext($1))`, [organizationId]);
  }

  create(em: EntityManager, input: Pick<Project, 'organizationId' | 'name' | 'slug' | 'description' | 'lifecycleId'>): Promise<Project> {
    return em.save(Project, em.create(Project, input));
  }

  async update(em: EntityManager, organizationId: string, id: string, changes: Partial<Pick<Project, 'name' | 'slug' | 'description' | 'lifecycleId' | 'variableSetIds'>>): Promise<void> {
    await em.update(Project, { organizationId, id }, changes);
  }

  async delete(em: EntityManager, organizationId: string, id: string): Promise<void> {
    await em.delete(Project, { organizationId, id });
  }

  /** Names of the projects that follow this lifecycle. */
  async namesUsingLifecycle(em: EntityManager, organizationId: string, lifecycleId: string): Promise<string[]> {
    const rows = await em.find(Project, { where: { organizationId, lifecycleId }, select: { name: true }, order: { name: 'ASC' } });
    return rows.map((p) => p.name);
  }

  /** Names of the projects that include this library variable set. */
  async namesIncludingSet(em: EntityManager, organizationId: string, setId: string): Promise<string[]> {
    const rows = await em.query<{ name: string }[]>(`SELECT name FROM projects WHERE organization_id = $1 AND $2 = ANY (variable_set_ids) ORDER BY name`, [organizationId, setId]);
    return rows.map((r) => r.name);
  }

  async releaseIds(em: EntityManager, organizationId: string, projectId: string): Promise<string[]> {
    const rows = await em.query<{ id: string }[]>(`SELECT id FROM releases WHERE organization_id = $1 AND project_id = $2`, [organizationId, projectId]);
    return rows.map((r) => r.id);
  }

  async deploymentIds(em: EntityManager, organizationId: string, projectId: string): Promise<string[]> {
    const rows = await em.query<{ id: string }[]>(
      `SELECT d.id FROM deployments d JOIN releases r ON r.id = d.release_id WHERE r.organization_id = $1 AND r.project_id = $2 AND d.organization_id = $1`,
      [organizationId, projectId],
    );
    return rows.map((r) => r.id);
  }

  latestProcess(organizationId: string, projectId: string, em: EntityManager = this.dataSource.manager): Promise<ProcessVersion | null> {
    return em.findOne(ProcessVersion, { where: { organizationId, projectId }, order: { version: 'DESC' } });
  }

  /** The next version of the project's process; the caller holds the project's row lock. */
  async addProcessVersion(em: EntityManager, input: Pick<ProcessVersion, 'organizationId' | 'projectId' | 'steps' | 'createdBy' | 'createdByLabel'>): Promise<ProcessVersion> {
    const latest = await this.latestProcess(input.organizationId, input.projectId, em);
    return em.save(ProcessVersion, em.create(ProcessVersion, { ...input, version: (latest?.version ?? 0) + 1 }));
  }

  lockProject(em: EntityManager, organizationId: string, id: string): Promise<Project | null> {
    return em.getRepository(Project).createQueryBuilder('p').setLock('pessimistic_write').where('p.organization_id = :organizationId AND p.id = :id', { organizationId, id }).getOne();
  }
}
