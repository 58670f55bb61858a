import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Request } from 'express';
import type { Role } from '../orgs/roles';

/** Who is calling: a console user (session cookie) or an API key acting for its creator. */
export interface Actor {
  type: 'user' | 'api_key';
  userId: string;
  email: string;
  organizationId: string;
  role: Role;
  sessionId?: string;
  apiKeyId?: string;
  apiKeyName?: string;
  ip: string;
  /**
   * Set when an API key's principal came from memory, not from the database: the key may have been
   * revoked, or its creator's role lowered, since. Only routes marked @ChecksApiKeyItself get such an
   * actor; they have the statement that acts check the key, or `confirm()` it first (a fresh
   * look-up that throws the 401 or 403 the guard would have).
   */
  unconfirmed?: { leastRole: Role; confirm(): Promise<Actor> };
}

export type AuthenticatedRequest = Request & { actor?: Actor };

export const PUBLIC_ROUTE = 'corral:public';
export const REQUIRED_ROLE = 'corral:role';
export const CHECKS_API_KEY = 'corral:checks-api-key';

/** The route needs no authentication (signup, login, health). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/** The least role that may call the route. Every authenticated route declares one. */
export const RequireRole = (role: Role) => SetMetadata(REQUIRED_ROLE, role);

/** The route checks a remembered API key in the statement that acts, so the guard need not look it up again (see Actor.unconfirmed). */
export const ChecksApiKeyItself = () => SetMetadata(CHECKS_API_KEY, true);

export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const actor = ctx.switchToHttp().getRequest<AuthenticatedRequest>().actor;
  if (!actor) throw new Error('CurrentActor used on a route without authentication');
  return actor;
});

export const ClientIp = createParamDecorator((_: unknown, ctx: ExecutionContext): string => clientIp(ctx.switchToHttp().getRequest<Request>()));

export function clientIp(req: Request): string {
  return (req.ip ?? req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}
