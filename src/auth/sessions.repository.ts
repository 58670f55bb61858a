import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Role } from '../orgs/roles';
import { Session } from './session.entity';

export interface SessionPrincipal {
  sessionId: string;
  userId: string;
  email: string;
  organizationId: string;
  role: Role;
}

@Injectable()
export class SessionsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async create(input: { tokenHash: string; userId: string; organizationId: string; expiresAt: Date }, em: EntityManager = this.dataSource.manager): Promise<void> {
    await em.insert(Session, input);
  }

  /** The live session for a token with the user's current role; null when expired or the membership is gone. */
  async findPrincipalByTokenHash(tokenHash: string): Promise<SessionPrincipal | null> {
    const rows = await this.dataSource.query<SessionPrincipal[]>(
      `SELECT s.id AS "sessionId", s.user_id AS "userId", u.email, s.organization_id AS "organizationId", m.role
         FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN memberships m ON m.user_id = s.user_id AND m.organization_id = s.organization_id
        WHERE s.token_hash = $1 AND s.expires_at > now()`,
      [tokenHash],
    );
    return rows[0] ?? null;
  }

  /** Ends the user's sessions in the organisation (they left it). */
  async deleteAllOf(em: EntityManager, organizationId: string, userId: string): Promise<void> {
    await em.delete(Session, { organizationId, userId });
  }

  async deleteById(id: string): Promise<void> {
    await this.dataSource.manager.delete(Session, { id });
  }

  async deleteExpired(): Promise<void> {
    await this.dataSource.query(`DELETE FROM sessions WHERE expires_at < now()`);
  }
}
