import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Deployment } from './deployment.entity';
import { Release } from './release.entity';

@Injectable()
export class ReleasesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Newest first. */
  listForProject(organizationId: string, projectId: string, limit: number, version?: string): Promise<Release[]> {
    return this.dataSource.manager.find(Release, { where: { organizationId, projectId, ...(version ? { version } : {}) }, order: { createdAt: 'DESC', id: 'DESC' }, take: limit });
  }

  findInOrganization(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<Release | null> {
    return em.findOne(Release, { where: { organizationId, id } });
  }

  async versions(em: EntityManager, organizationId: string, projectId: string): Promise<string[]> {
    const rows = await em.find(Release, { where: { organizationId, projectId }, select: { version: true } });
    return rows.map((r) => r.version);
  }

  create(em: EntityManager, input: Pick<Release, 'organizationId' | 'projectId' | 'version' | 'notes' | 'processVersion' | 'steps' | 'createdBy' | 'createdByLabel'>): Promise<Release> {
    return em.save(Release, em.create(Release, input));
  }

  /** Each environment's latest deployment of the release. */
  latestDeploymentsByEnvironment(organizationId: string, releaseId: string, em: EntityManager = this.dataSource.manager): Promise<Deployment[]> {
    return em
      .getRepository(Deployment)
      .createQueryBuilder('d')
      .distinctOn(['d.environment_id'])
      .where('d.organization_id = :organizationId AND d.release_id = :releaseId', { organizationId, releaseId })
      .orderBy('d.environment_id')
      .addOrderBy('d.created_at', 'DESC')
      .getMany();
  }

  countDeploymentsTo(em: EntityManager, organizationId: string, environmentId: string): Promise<number> {
    return em.count(Deployment, { where: { organizationId, environmentId } });
  }

  /** The environments the release has ever been deployed to successfully. */
  async succeededEnvironments(organizationId: string, releaseId: string, em: EntityManager = this.dataSource.manager): Promise<Set<string>> {
    const rows = await em.query<{ environment_id: string }[]>(`SELECT DISTINCT environment_id FROM deployments WHERE organization_id = $1 AND release_id = $2 AND state = 'succeeded'`, [
      organizationId,
      releaseId,
    ]);
    return new Set(rows.map((r) => r.environment_id));
  }
}
