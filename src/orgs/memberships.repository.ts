import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Membership } from './membership.entity';
import type { Role } from './roles';

export interface MemberRow {
  id: string;
  userId: string;
  email: string;
  role: Role;
  createdAt: Date;
}

@Injectable()
export class MembershipsRepository {
  constructor(private readonly dataSource: DataSource) {}

  create(organizationId: string, userId: string, role: Role, em: EntityManager = this.dataSource.manager): Promise<Membership> {
    return em.save(Membership, em.create(Membership, { organizationId, userId, role }));
  }

  findForUserInOrganization(organizationId: string, userId: string, em: EntityManager = this.dataSource.manager): Promise<Membership | null> {
    return em.findOne(Membership, { where: { organizationId, userId } });
  }

  /** The user's oldest membership: the organisation a login lands in. */
  findFirstForUser(userId: string): Promise<Membership | null> {
    return this.dataSource.manager.findOne(Membership, { where: { userId }, order: { createdAt: 'ASC' } });
  }

  async listForOrganization(organizationId: string): Promise<MemberRow[]> {
    return this.dataSource.query(
      `SELECT m.id, m.user_id AS "userId", u.email, m.role, m.created_at AS "createdAt"
         FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1
        ORDER BY m.created_at, u.email`,
      [organizationId],
    );
  }

  async findMemberInOrganization(organizationId: string, membershipId: string, em: EntityManager = this.dataSource.manager): Promise<MemberRow | null> {
    const rows = await em.query<MemberRow[]>(
      `SELECT m.id, m.user_id AS "userId", u.email, m.role, m.created_at AS "createdAt"
         FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1 AND m.id = $2
        FOR UPDATE OF m`,
      [organizationId, membershipId],
    );
    return rows[0] ?? null;
  }

  /** Locks the organisation's owners so two concurrent demotions cannot remove the last one. */
  async countOwnersForUpdate(organizationId: string, em: EntityManager): Promise<number> {
    const rows = await em.query<{ id: string }[]>(`SELECT id FROM memberships WHERE organization_id = $1 AND role = 'owner' FOR UPDATE`, [organizationId]);
    return rows.length;
  }

  async updateRole(organizationId: string, membershipId: string, role: Role, em: EntityManager): Promise<void> {
    await em.update(Membership, { organizationId, id: membershipId }, { role });
  }

  async delete(organizationId: string, membershipId: string, em: EntityManager): Promise<void> {
    await em.delete(Membership, { organizationId, id: membershipId });
  }
}
