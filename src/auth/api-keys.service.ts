import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { randomToken, sha256Hex } from '../common/secrets';
import { type Role, roleAtLeast } from '../orgs/roles';
import type { ApiKey } from './api-key.entity';
import { ApiKeysRepository } from './api-keys.repository';
import { AuthErrorCode, AuthException } from './auth.exception';
import { API_KEY_PREFIX } from './auth.service';

export function apiKeyView(k: ApiKey) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    role: k.role,
    createdBy: k.createdBy,
    createdAt: k.createdAt,
    lastUsedAt: k.lastUsedAt,
    revokedAt: k.revokedAt,
  };
}

@Injectable()
export class ApiKeysService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly apiKeys: ApiKeysRepository,
    private readonly audit: AuditService,
    private readonly events: ClusterEventsService,
  ) {}

  /** Creates a key; the plaintext is in the result and nowhere else, ever. */
  async create(actor: Actor, name: string, role: Role = actor.role) {
    if (!roleAtLeast(actor.role, role)) {
      throw new AuthException(AuthErrorCode.ROLE_TOO_HIGH, `a key cannot have more rights than you: your role is ${actor.role}, the key asked for ${role}`);
    }
    const key = `${API_KEY_PREFIX}${randomToken(40)}`;
    const created = await this.dataSource.transaction(async (em) => {
      const row = await this.apiKeys.create({ organizationId: actor.organizationId, name, prefix: key.slice(0, 10), keyHash: sha256Hex(key), role, createdBy: actor.userId }, em);
      await this.audit.record(actor, 'api_key.created', { type: 'api_key', id: row.id }, { name, role }, em);
      return row;
    });
    return { ...apiKeyView(created), key };
  }

  async list(actor: Actor) {
    return (await this.apiKeys.listForOrganization(actor.organizationId)).map(apiKeyView);
  }

  async revoke(actor: Actor, id: string): Promise<void> {
    const existing = await this.apiKeys.findInOrganization(actor.organizationId, id);
    if (!existing) throw new NotFoundException('API key', id);
    if (existing.createdBy !== actor.userId && !roleAtLeast(actor.role, 'admin')) {
      throw new AuthException(AuthErrorCode.FORBIDDEN, 'only an admin can revoke a key created by someone else');
    }
    const revoked = await this.dataSource.transaction(async (em) => {
      // Revoking twice is not an error, and only the first revocation is audited.
      if (!(await this.apiKeys.revoke(actor.organizationId, id, em))) return false;
      await this.audit.record(actor, 'api_key.revoked', { type: 'api_key', id }, { name: existing.name }, em);
      return true;
    });
    if (revoked) await this.events.announce({ kind: 'credentials-changed', organizationId: actor.organizationId });
  }
}
