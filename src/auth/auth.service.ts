import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor';
import { DUMMY_PASSWORD_HASH, hashPassword, randomToken, sha256Hex, verifyPassword } from '../common/secrets';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { MembershipsRepository } from '../orgs/memberships.repository';
import { OrgsService } from '../orgs/orgs.service';
import { lowerRole, type Role, roleAtLeast } from '../orgs/roles';
import { UsersRepository } from '../orgs/users.repository';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { Batcher } from '../database/batcher';
import { type ApiKeyPrincipal, ApiKeysRepository } from './api-keys.repository';
import { AuthErrorCode, AuthException } from './auth.exception';
import { PrincipalCache } from './principal-cache';
import { RateLimiter } from './rate-limiter';
import { SessionsRepository } from './sessions.repository';

export const API_KEY_PREFIX = 'crl_';
export const SESSION_COOKIE = 'corral_session';
const API_KEY_TOUCH_MS = 60_000;

/** Refuses an actor below `least` with the 403 a route of that role gives. */
export function assertRole(actor: Actor, least: Role): void {
  if (!roleAtLeast(actor.role, least)) throw new AuthException(AuthErrorCode.FORBIDDEN, `this needs the ${least} role or higher; you are ${actor.role}`);
}

/** The principal of a key whose creator is still a member. */
type MemberKey = ApiKeyPrincipal & { creatorRole: Role };

/** A key acts with the lower of its own role and its creator's current role. */
function keyRole(principal: MemberKey): Role {
  return lowerRole(principal.keyRole, principal.creatorRole);
}

export interface NewSession {
  token: string;
  expiresAt: Date;
  actor: Actor;
}

@Injectable()
export class AuthService {
  private readonly apiKeysTouched = new Map<string, number>();
  // Requests that arrive together (a script creating tasks in parallel) look their keys up in one
  // statement; each still sees the key as the database has it then, revoked or not.
  private readonly principals = new Batcher<string, ApiKeyPrincipal | null>((hashes) => this.principalBatch(hashes), { maxBatch: 500, concurrency: 2 });
  private readonly principalCache = new PrincipalCache();

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly dataSource: DataSource,
    private readonly orgs: OrgsService,
    private readonly users: UsersRepository,
    private readonly memberships: MembershipsRepository,
    private readonly sessions: SessionsRepository,
    private readonly apiKeys: ApiKeysRepository,
    private readonly rateLimiter: RateLimiter,
    private readonly audit: AuditService,
    events: ClusterEventsService,
  ) {
    events.on('credentials-changed', (e) => this.principalCache.forget(e.organizationId)).on('resync', () => this.principalCache.clear());
    // Someone who leaves an organisation, or is demoted, keeps no way in: their sessions end and their keys are revoked.
    this.orgs.credentialsRevoked = async (em, organizationId, userId) => {
      await this.sessions.deleteAllOf(em, organizationId, userId);
      await this.apiKeys.revokeAllOf(em, organizationId, userId);
    };
  }

  async signup(input: { organization: string; email: string; password: string }, ip: string): Promise<NewSession> {
    await this.limit(`auth:ip:${ip}`, this.config.authRateLimitPerIp);
    const passwordHash = await hashPassword(input.password);
    return this.dataSource.transaction(async (em) => {
      const { organization, user } = await this.orgs.createOrganizationWithOwner(input.organization, input.email, passwordHash, em);
      const session = await this.newSession({ userId: user.id, email: user.email, organizationId: organization.id, role: 'owner', ip }, em);
      await this.audit.recordAnonymous(
        {
          organizationId: organization.id,
          userId: user.id,
          email: user.email,
          action: 'auth.signup',
          ip,
          target: { type: 'organization', id: organization.id },
          details: { organization: organization.name },
        },
        em,
      );
      return session;
    });
  }

  /** Same answer and about the same time for an unknown email and a wrong password. */
  async login(email: string, password: string, ip: string): Promise<NewSession> {
    email = email.toLowerCase();
    await this.limit(`auth:ip:${ip}`, this.config.authRateLimitPerIp);
    await this.limit(`auth:account:${email}`, this.config.authRateLimitPerAccount);
    const user = await this.users.findByEmail(email);
    const valid = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
    const membership = user && valid ? await this.memberships.findFirstForUser(user.id) : null;
    if (!user || !valid || !membership) {
      const orgId = user ? ((await this.memberships.findFirstForUser(user.id))?.organizationId ?? null) : null;
      await this.audit.recordAnonymous({
        organizationId: orgId,
        userId: user?.id,
        email,
        action: 'auth.login_failed',
        ip,
        details: { reason: !user ? 'unknown email' : !valid ? 'wrong password' : 'no membership' },
      });
      throw new AuthException(AuthErrorCode.INVALID_CREDENTIALS, 'email or password is incorrect');
    }
    await this.rateLimiter.reset(`auth:account:${email}`);
    const session = await this.newSession({ userId: user.id, email, organizationId: membership.organizationId, role: membership.role, ip });
    await this.audit.recordAnonymous({ organizationId: membership.organizationId, userId: user.id, email, action: 'auth.login', ip });
    return session;
  }

  async acceptInvitation(token: string, password: string, ip: string): Promise<NewSession> {
    await this.limit(`auth:ip:${ip}`, this.config.authRateLimitPerIp);
    return this.dataSource.transaction(async (em) => {
      const accepted = await this.orgs.acceptInvitation(token, () => hashPassword(password), em);
      // An existing account joins only with its own password, so a leaked invitation cannot bind it.
      if (!accepted.created && !(await verifyPassword(password, accepted.user.passwordHash))) {
        throw new AuthException(AuthErrorCode.INVALID_CREDENTIALS, "this email already has an account: enter that account's password to accept");
      }
      const session = await this.newSession({ userId: accepted.user.id, email: accepted.user.email, organizationId: accepted.organizationId, role: accepted.role, ip }, em);
      await this.audit.recordAnonymous(
        { organizationId: accepted.organizationId, userId: accepted.user.id, email: accepted.user.email, action: 'member.joined', ip, details: { role: accepted.role } },
        em,
      );
      return session;
    });
  }

  async logout(actor: Actor): Promise<void> {
    if (actor.sessionId) await this.sessions.deleteById(actor.sessionId);
    await this.audit.record(actor, 'auth.logout');
  }

  /** Whether the account runs this control plane (CORRAL_PLATFORM_OPERATORS), whichever organisation it acts in. */
  isPlatformOperator(actor: Actor): boolean {
    return this.config.platformOperators?.includes(actor.email.toLowerCase()) ?? false;
  }

  async me(actor: Actor) {
    const organization = await this.orgs.findOrganization(actor.organizationId);
    if (!organization) throw new AuthException(AuthErrorCode.UNAUTHENTICATED, 'your organisation no longer exists; log in again');
    return {
      user: { id: actor.userId, email: actor.email, ...(this.isPlatformOperator(actor) ? { platformOperator: true } : {}) },
      organization: { id: organization.id, name: organization.name, slug: organization.slug },
      role: actor.role,
      // An API key actor always has its key's id and name.
      authenticatedBy: actor.type === 'api_key' ? { type: 'api_key' as const, id: actor.apiKeyId!, name: actor.apiKeyName! } : { type: 'session' as const },
    };
  }

  /** Resolves a session cookie token to an actor; null when unknown or expired. */
  async actorFromSession(token: string, ip: string): Promise<Actor | null> {
    const principal = await this.sessions.findPrincipalByTokenHash(sha256Hex(token));
    return principal && { type: 'user', ...principal, ip };
  }

  /** Resolves a bearer API key; a key acts with the lower of its own role and its creator's current role. */
  async actorFromApiKey(key: string, ip: string): Promise<Actor> {
    const hash = key.startsWith(API_KEY_PREFIX) ? sha256Hex(key) : null;
    const principal = hash ? await this.principalCache.read(hash, (h) => this.principals.submit(h)) : null;
    if (!principal?.creatorRole) throw new AuthException(AuthErrorCode.INVALID_API_KEY, 'the API key is unknown or revoked; create a new key in the console or with POST /api/v1/api-keys');
    return this.keyActor({ ...principal, creatorRole: principal.creatorRole }, ip);
  }

  private keyActor(principal: MemberKey, ip: string): Actor {
    this.touchApiKey(principal.apiKeyId);
    return {
      type: 'api_key',
      userId: principal.userId,
      email: principal.email,
      organizationId: principal.organizationId,
      role: keyRole(principal),
      apiKeyId: principal.apiKeyId,
      apiKeyName: principal.name,
      ip,
    };
  }

  private async principalBatch(hashes: string[]): Promise<(ApiKeyPrincipal | null)[]> {
    const found = new Map((await this.apiKeys.findPrincipalsByHashes([...new Set(hashes)])).map(({ keyHash, ...principal }) => [keyHash, principal]));
    return hashes.map((hash) => found.get(hash) ?? null);
  }

  // "Last used" is kept to the minute: a key in steady use costs one write a minute, not one per request.
  private touchApiKey(id: string) {
    const now = Date.now();
    if (now - (this.apiKeysTouched.get(id) ?? 0) < API_KEY_TOUCH_MS) return;
    if (this.apiKeysTouched.size > 10_000) this.apiKeysTouched.clear();
    this.apiKeysTouched.set(id, now);
    void this.apiKeys.touch(id).catch(() => undefined);
  }

  private async newSession(actor: Omit<Actor, 'type' | 'sessionId'>, em = this.dataSource.manager): Promise<NewSession> {
    const token = randomToken(48);
    const expiresAt = new Date(Date.now() + this.config.sessionTtlHours * 3600 * 1000);
    await this.sessions.create({ tokenHash: sha256Hex(token), userId: actor.userId, organizationId: actor.organizationId, expiresAt }, em);
    return { token, expiresAt, actor: { type: 'user', ...actor } };
  }

  private async limit(key: string, limit: number): Promise<void> {
    const verdict = await this.rateLimiter.hit(key, limit, this.config.authRateLimitWindowSeconds);
    if (!verdict.allowed) {
      throw new AuthException(AuthErrorCode.RATE_LIMITED, `too many attempts; try again in ${verdict.retryAfterSeconds} s`, {
        'Retry-After': String(verdict.retryAfterSeconds),
      });
    }
  }
}
