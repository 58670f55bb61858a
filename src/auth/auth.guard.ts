import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { type AuthenticatedRequest, clientIp, PLATFORM_OPERATOR, PUBLIC_ROUTE, REQUIRED_ROLE } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import { requestContext } from '../common/request-context';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { OrganizationLimitsService } from '../orgs/organization-limits.service';
import type { Role } from '../orgs/roles';
import { AuthErrorCode, AuthException } from './auth.exception';
import { assertRole, AuthService, SESSION_COOKIE } from './auth.service';
import { RequestRate } from './request-rate';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
// The agents' own protocol (enroll, poll, messages): admitted by the agent gateway's own rules.
const AGENT_PROTOCOL_PREFIX = '/api/agent/';

/**
 * Authenticates every /api/v1 route unless it is @Public, and enforces its @RequireRole (and
 * @RequirePlatformOperator), and the request rates: per client address
 * (API_REQUESTS_PER_SECOND_PER_IP), and per API key or session (the organisation's
 * apiRequestsPerSecond). Agents' protocol routes have their own admission and are not counted.
 * Cookie-authenticated (and anonymous) state changes must come from our own origin.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly rates = new RequestRate();

  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    @InjectConfig() private readonly config: CorralConfig,
    private readonly limits: OrganizationLimitsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const targets = [context.getHandler(), context.getClass()];
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets);
    const role = this.reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, targets);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();

    const ip = clientIp(req);
    const agentProtocol = req.path.startsWith(AGENT_PROTOCOL_PREFIX);
    if (!agentProtocol) this.assertRate(`ip:${ip}`, this.config.apiRequestsPerSecondPerIp, 'requests from your address');
    // Browsers attach cookies to cross-site requests; bearer keys they never attach by themselves.
    if (!bearer && !SAFE_METHODS.has(req.method)) this.assertSameOrigin(req);
    if (isPublic) return true;
    if (!role) throw new Error(`route ${req.method} ${req.path} declares neither @Public nor @RequireRole`);

    const cookie = (req.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE];
    const actor = bearer ? await this.auth.actorFromApiKey(bearer, ip) : cookie ? await this.auth.actorFromSession(cookie, ip) : null;
    if (!actor) {
      throw new AuthException(AuthErrorCode.UNAUTHENTICATED, 'log in first (session cookie), or send an API key as "Authorization: Bearer crl_…"');
    }
    // A server-wide route is not there for anyone but a platform operator: not even its existence is told.
    if (this.reflector.getAllAndOverride<boolean>(PLATFORM_OPERATOR, targets) && !this.auth.isPlatformOperator(actor))
      throw new DomainException('ROUTE_NOT_FOUND', `no route ${req.method} ${req.path}; see the README for the API`);
    assertRole(actor, role);
    const { apiRequestsPerSecond } = await this.limits.of(actor.organizationId);
    this.assertRate(
      actor.apiKeyId ? `key:${actor.apiKeyId}` : `session:${actor.sessionId ?? actor.userId}`,
      apiRequestsPerSecond,
      actor.apiKeyId ? 'requests with this API key' : 'requests of this session',
    );
    req.actor = actor;
    const request = requestContext.getStore();
    if (request) request.organizationId = actor.organizationId;
    return true;
  }

  private assertRate(caller: string, perSecond: number, what: string) {
    const wait = this.rates.take(caller, perSecond);
    if (wait === null) return;
    throw new AuthException(AuthErrorCode.RATE_LIMITED, `too many ${what}: at most ${perSecond} a second; try again in ${wait} s`, { 'Retry-After': String(wait) });
  }

  private assertSameOrigin(req: Request) {
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      throw new AuthException(AuthErrorCode.CSRF_REJECTED, 'cross-site request refused; use the console, or an API key for scripts');
    }
    const origin = req.headers.origin;
    if (origin && origin !== 'null' && !this.allowedOrigins(req).has(origin)) {
      throw new AuthException(AuthErrorCode.CSRF_REJECTED, `requests from origin ${origin} are refused; use the console at ${this.config.publicUrl}, or an API key for scripts`);
    }
    if (origin === 'null') throw new AuthException(AuthErrorCode.CSRF_REJECTED, 'requests from an opaque origin are refused');
  }

  private allowedOrigins(req: Request): Set<string> {
    const allowed = new Set([new URL(this.config.publicUrl).origin]);
    // The host the browser actually used, for nodes reached directly rather than through CORRAL_PUBLIC_URL.
    if (req.headers.host) allowed.add(`${req.protocol}://${req.headers.host}`);
    return allowed;
  }
}
