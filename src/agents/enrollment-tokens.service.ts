import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { AgentEnvironments } from './agent-environments';
import { ServerKeysService } from './server-keys.service';
import type { Actor } from '../common/actor';
import { NotFoundException } from '../common/domain.exception';
import { randomToken, sha256Hex } from '../common/secrets';
import type { EnrollmentToken } from './enrollment-token.entity';
import { EnrollmentTokensRepository } from './enrollment-tokens.repository';
import type { CreateEnrollmentTokenDto } from './dto/create-enrollment-token.dto';

export const ENROLLMENT_TOKEN_PREFIX = 'crl_enr_';

export function enrollmentTokenView(t: EnrollmentToken, now = new Date()) {
  const state: 'revoked' | 'expired' | 'used_up' | 'active' = t.revokedAt ? 'revoked' : t.expiresAt <= now ? 'expired' : t.uses >= t.maxUses ? 'used_up' : 'active';
  return {
    id: t.id,
    prefix: t.prefix,
    description: t.description,
    state,
    expiresAt: t.expiresAt,
    maxUses: t.maxUses,
    uses: t.uses,
    environments: t.environments,
    roles: t.roles,
    createdBy: t.createdBy,
    createdAt: t.createdAt,
    revokedAt: t.revokedAt,
  };
}

@Injectable()
export class EnrollmentTokensService {
  constructor(
    private readonly tokens: EnrollmentTokensRepository,
    private readonly audit: AuditService,
    private readonly labels: AgentEnvironments,
    private readonly serverKeys: ServerKeysService,
  ) {}

  /** The token is in the result once and stored only as a hash. */
  async create(actor: Actor, input: CreateEnrollmentTokenDto) {
    const token = `${ENROLLMENT_TOKEN_PREFIX}${randomToken(40)}`;
    const created = await this.tokens.create({
      organizationId: actor.organizationId,
      tokenHash: sha256Hex(token),
      prefix: token.slice(0, 12),
      description: input.description ?? null,
      expiresAt: new Date(Date.now() + (input.expiresInMinutes ?? 60) * 60_000),
      maxUses: input.maxUses ?? 1,
      environments: (await this.labels.names(actor.organizationId, input.environments)) ?? [],
      roles: input.roles ?? [],
      createdBy: actor.userId,
    });
    await this.audit.record(actor, 'enrollment_token.created', { type: 'enrollment_token', id: created.id }, { maxUses: created.maxUses, expiresAt: created.expiresAt });
    // The install command pins it: an agent enrolling through someone answering in the control
    // plane's place then refuses, instead of trusting that someone's keys.
    const { keyId, fingerprint } = this.serverKeys.signingKey();
    return { ...enrollmentTokenView(created), token, serverKey: { keyId, fingerprint } };
  }

  async list(actor: Actor) {
    return (await this.tokens.listForOrganization(actor.organizationId)).map((t) => enrollmentTokenView(t));
  }

  async revoke(actor: Actor, id: string): Promise<void> {
    const token = await this.tokens.revoke(actor.organizationId, id);
    if (!token) throw new NotFoundException('enrollment token', id);
    if (!token.revokedAt) await this.audit.record(actor, 'enrollment_token.revoked', { type: 'enrollment_token', id });
  }
}
