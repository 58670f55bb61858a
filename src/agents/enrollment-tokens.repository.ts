import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, IsNull } from 'typeorm';
import { EnrollmentToken } from './enrollment-token.entity';

@Injectable()
export class EnrollmentTokensRepository {
  constructor(private readonly dataSource: DataSource) {}

  create(input: Pick<EnrollmentToken, 'organizationId' | 'tokenHash' | 'prefix' | 'description' | 'expiresAt' | 'maxUses' | 'environments' | 'roles' | 'createdBy'>): Promise<EnrollmentToken> {
    return this.dataSource.manager.save(EnrollmentToken, this.dataSource.manager.create(EnrollmentToken, input));
  }

  listForOrganization(organizationId: string): Promise<EnrollmentToken[]> {
    return this.dataSource.manager.find(EnrollmentToken, { where: { organizationId }, order: { createdAt: 'DESC' } });
  }

  async revoke(organizationId: string, id: string): Promise<EnrollmentToken | null> {
    const token = await this.dataSource.manager.findOne(EnrollmentToken, { where: { organizationId, id } });
    if (!token) return null;
    await this.dataSource.manager.update(EnrollmentToken, { organizationId, id, revokedAt: IsNull() }, { revokedAt: new Date() });
    return token;
  }

  /** Locks the token row so concurrent enrollments cannot exceed its use limit. */
  findByHashForUpdate(tokenHash: string, em: EntityManager): Promise<EnrollmentToken | null> {
    return em.findOne(EnrollmentToken, { where: { tokenHash }, lock: { mode: 'pessimistic_write' } });
  }

  async countUse(id: string, em: EntityManager): Promise<void> {
    await em.increment(EnrollmentToken, { id }, 'uses', 1);
  }
}
