import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { type AuthenticatedRequest, clientIp, PLATFORM_OPERATOR, PUBLIC_ROUTE, REQUIRED_ROLE } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import type { Role } from '../orgs/roles';
import { AuthErrorCode, AuthException } from './auth.exception';
import { assertRole, AuthService, SESSION_COOKIE } from './auth.service';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Authenticates every /api/v1 route unless it is @Public, and enforces its @RequireRole (and
 * @RequirePlatformOperator).
 * Cookie-authenticated (and anonymous) state changes must come from our own origin.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
    @InjectConfig() private readonly config: CorralConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const targets = [context.getHandler(), context.getClass()];
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets);
    const role = this.reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, targets);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();

    // Browsers attach cookies to cross-site requests; bearer keys they never attach by themselves.
    if (!bearer && !SAFE_METHODS.has(req.method)) this.assertSameOrigin(req);
    if (isPublic) return true;
    if (!role) throw new Error(`route ${req.method} ${req.path} declares neither @Public nor @RequireRole`);

    const ip = clientIp(req);
    const cookie = (req.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE];
    const actor = bearer ? await this.auth.actorFromApiKey(bearer, ip) : cookie ? await this.auth.actorFromSession(cookie, ip) : null;
    if (!actor) {
      throw new AuthException(AuthErrorCode.UNAUTHENTICATED, 'log in first (session cookie), or send an API key as "Authorization: Bearer crl_…"');
    }
    // A server-wide route is not there for anyone but a platform operator: not even its existence is told.
    if (this.reflector.getAllAndOverride<boolean>(PLATFORM_OPERATOR, targets) && !this.auth.isPlatformOperator(actor))
      throw new DomainException('ROUTE_NOT_FOUND', `no route ${req.method} ${req.path}; see the README for the API`);
    assertRole(actor, role);
    req.actor = actor;
    return true;
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
