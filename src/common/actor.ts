import { applyDecorators, createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
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
}

export type AuthenticatedRequest = Request & { actor?: Actor };

export const PUBLIC_ROUTE = 'corral:public';
export const REQUIRED_ROLE = 'corral:role';

/** The route needs no authentication (signup, login, health). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/** The least role that may call the route. Every authenticated route declares one. */
export const RequireRole = (role: Role) => SetMetadata(REQUIRED_ROLE, role);

export const PLATFORM_OPERATOR = 'corral:platform-operator';

/**
 * Only a platform operator (CORRAL_PLATFORM_OPERATORS) may call the route: it affects every
 * organisation on this control plane. To anyone else it answers as a route that does not exist.
 */
export const RequirePlatformOperator = () => applyDecorators(SetMetadata(PLATFORM_OPERATOR, true), RequireRole('viewer'));

export const CurrentActor = createParamDecorator((_: unknown, ctx: ExecutionContext): Actor => {
  const actor = ctx.switchToHttp().getRequest<AuthenticatedRequest>().actor;
  if (!actor) throw new Error('CurrentActor used on a route without authentication');
  return actor;
});

export const ClientIp = createParamDecorator((_: unknown, ctx: ExecutionContext): string => clientIp(ctx.switchToHttp().getRequest<Request>()));

export function clientIp(req: Request): string {
  return (req.ip ?? req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}

/** How an actor is named in audit events and on what it created. */
export function actorLabel(actor: Actor): string {
  return actor.type === 'api_key' ? `${actor.apiKeyName} (API key of ${actor.email})` : actor.email;
}
