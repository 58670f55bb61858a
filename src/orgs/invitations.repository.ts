import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, IsNull } from 'typeorm';
import { Invitation } from './invitation.entity';
import type { Role } from './roles';

@Injectable()
export class InvitationsRepository {
  constructor(private readonly dataSource: DataSource) {}

  create(input: { organizationId: string; email: string; role: Role; tokenHash: string; invitedBy: string; expiresAt: Date }, em: EntityManager = this.dataSource.manager): Promise<Invitation> {
    return em.save(Invitation, em.create(Invitation, input));
  }

  findOpenForEmail(organizationId: string, email: string): Promise<Invitation | null> {
    return this.dataSource.manager.findOne(Invitation, { where: { organizationId, email, acceptedAt: IsNull(), revokedAt: IsNull() } });
  }

  listOpenForOrganization(organizationId: string): Promise<Invitation[]> {
    return this.dataSource.manager.find(Invitation, { where: { organizationId, acceptedAt: IsNull(), revokedAt: IsNull() }, order: { createdAt: 'DESC' } });
  }

  /** Marks an open, unexpired invitation accepted; null when the token is unknown, used, revoked or expired. */
  async consume(tokenHash: string, em: EntityManager): Promise<Invitation | null> {
    const rows = await em.query<[Invitation[], number]>(
      `UPDATE invitations SET accepted_at = now()
        WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        RETURNING id, organization_id AS "organizationId", email, role`,
      [tokenHash],
    );
    return rows[0][0] ?? null;
  }

  async revoke(organizationId: string, id: string): Promise<boolean> {
    const result = await this.dataSource.manager.update(Invitation, { organizationId, id, acceptedAt: IsNull(), revokedAt: IsNull() }, { revokedAt: new Date() });
    return (result.affected ?? 0) > 0;
  }
}
