import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager, IsNull } from 'typeorm';
import { Sql } from '../database/sql';
import type { Role } from '../orgs/roles';
import { ApiKey } from './api-key.entity';

export interface ApiKeyPrincipal {
  apiKeyId: string;
  name: string;
  keyRole: Role;
  organizationId: string;
  userId: string;
  email: string;
  // The creator's current role; null when the creator is no longer a member.
  creatorRole: Role | null;
}

@Injectable()
export class ApiKeysRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly sql: Sql,
  ) {}

  create(input: Pick<ApiKey, 'organizationId' | 'name' | 'prefix' | 'keyHash' | 'role' | 'createdBy'>, em: EntityManager = this.dataSource.manager): Promise<ApiKey> {
    return em.save(ApiKey, em.create(ApiKey, input));
  }

  listForOrganization(organizationId: string): Promise<ApiKey[]> {
    return this.dataSource.manager.find(ApiKey, { where: { organizationId }, order: { createdAt: 'DESC' } });
  }

  findInOrganization(organizationId: string, id: string): Promise<ApiKey | null> {
    return this.dataSource.manager.findOne(ApiKey, { where: { organizationId, id } });
  }

  /** The principals of the unrevoked keys among these hashes, each with the hash it was found by. */
  findPrincipalsByHashes(keyHashes: string[]): Promise<(ApiKeyPrincipal & { keyHash: string })[]> {
    return this.sql.query<ApiKeyPrincipal & { keyHash: string }>(
      'corral_api_key_principals',
      `SELECT k.key_hash AS "keyHash", k.id AS "apiKeyId", k.name, k.role AS "keyRole", k.organization_id AS "organizationId",
              k.created_by AS "userId", u.email, m.role AS "creatorRole"
         FROM api_keys k
         JOIN users u ON u.id = k.created_by
         LEFT JOIN memberships m ON m.user_id = k.created_by AND m.organization_id = k.organization_id
        WHERE k.key_hash = ANY ($1::text[]) AND k.revoked_at IS NULL`,
      [keyHashes],
    );
  }

  // Coarse on purpose: one write per key per minute at most, not one per request.
  async touch(id: string): Promise<void> {
    await this.sql.query('corral_api_key_touch', `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, [id]);
  }

  /** Revokes every key the user made in the organisation (they left it). */
  async revokeAllOf(em: EntityManager, organizationId: string, userId: string): Promise<void> {
    await em.update(ApiKey, { organizationId, createdBy: userId, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  async revoke(organizationId: string, id: string, em: EntityManager = this.dataSource.manager): Promise<boolean> {
    const result = await em.update(ApiKey, { organizationId, id, revokedAt: IsNull() }, { revokedAt: new Date() });
    return (result.affected ?? 0) > 0;
  }
}
