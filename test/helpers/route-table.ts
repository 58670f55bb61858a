import { RequestMethod } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { DiscoveryService, MetadataScanner, ModulesContainer, NestFactory, Reflector } from '@nestjs/core';
import { GATEWAY_METADATA, GATEWAY_OPTIONS } from '@nestjs/websockets/constants';
import { AppModule } from '../../src/app.module';
import { PLATFORM_OPERATOR, PUBLIC_ROUTE, REQUIRED_ROLE } from '../../src/common/actor';
import { CorralLogger } from '../../src/common/logger';
import { readConfig } from '../../src/config/config';
import type { Role } from '../../src/orgs/roles';

// The application's route table, read the way Nest reads it (issue 17): shared by the
// authorisation matrix (test/route-matrix.e2e-spec.ts) and the fuzzer (test/verify/).

export interface Route {
  key: string;
  method: string;
  path: string;
  isPublic: boolean;
  leastRole: Role | undefined;
  platformOperator: boolean;
  /**
   * The declared type of the handler's @Body() parameter (from 'design:paramtypes'): a DTO class
   * validated by class-validator, or Object when the handler takes `unknown` and validates itself.
   * Undefined when the handler reads no body (and for the WebSocket gateway).
   */
  bodyType?: unknown;
  /** The declared type of its whole @Query() parameter, the same way. */
  queryType?: unknown;
  /** `Controller.method`, for messages. */
  handler?: string;
  /** The status of a success, as Nest sets it: @HttpCode, else 201 for POST and 200 for the rest. */
  status?: number;
}

const joinPath = (...parts: string[]) =>
  '/' +
  parts
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/');
const asList = (p: string | string[] | undefined): string[] => (p === undefined ? [''] : Array.isArray(p) ? p : [p]);

/** The declared type of the whole @Body() (or @Query()) parameter of `metatype.prototype[name]`, if it has one. */
function paramTypeOf(metatype: object, name: string, kind: RouteParamtypes): unknown {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<string, { index: number; data?: unknown }>;
  const body = Object.entries(args).find(([key, arg]) => key.startsWith(`${kind}:`) && arg.data === undefined);
  if (!body) return undefined;
  const types = (Reflect.getMetadata('design:paramtypes', (metatype as { prototype: object }).prototype, name) ?? []) as unknown[];
  return types[body[1].index];
}

/**
 * Every HTTP route and WebSocket gateway of the application module, read the way Nest reads them:
 * the module graph scanned in preview mode (what the node builds, but nothing instantiated, so no
 * database, no background loops), then each controller method's route and role metadata.
 */
export async function routeTable(): Promise<Route[]> {
  const logger = new CorralLogger('error', 'json', process.stderr);
  const ctx = await NestFactory.createApplicationContext(AppModule.forRoot(readConfig({}), 'postgres://route-table@127.0.0.1:1/none', logger), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  try {
    // In preview mode nothing is instantiated, not even the DiscoveryService: built here over Nest's own container.
    const discovery = new DiscoveryService(ctx.get(ModulesContainer));
    const reflector = new Reflector();
    const scanner = new MetadataScanner();
    const routes: Route[] = [];
    for (const { metatype } of discovery.getControllers()) {
      if (!metatype) continue;
      const prototype = metatype.prototype as Record<string, (...args: unknown[]) => unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        const methodPath = Reflect.getMetadata(PATH_METADATA, handler) as string | string[] | undefined;
        if (methodPath === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        const targets = [handler, metatype];
        for (const base of asList(Reflect.getMetadata(PATH_METADATA, metatype) as string | string[] | undefined)) {
          for (const sub of asList(methodPath)) {
            const path = joinPath(base, sub);
            routes.push({
              key: `${method} ${path}`,
              method,
              path,
              isPublic: reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) ?? false,
              leastRole: reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, targets),
              platformOperator: reflector.getAllAndOverride<boolean>(PLATFORM_OPERATOR, targets) ?? false,
              bodyType: paramTypeOf(metatype, name, RouteParamtypes.BODY),
              queryType: paramTypeOf(metatype, name, RouteParamtypes.QUERY),
              handler: `${metatype.name}.${name}`,
              status: (Reflect.getMetadata(HTTP_CODE_METADATA, handler) as number | undefined) ?? (method === 'POST' ? 201 : 200),
            });
          }
        }
      }
    }
    for (const { metatype } of discovery.getProviders()) {
      if (!metatype || !Reflect.getMetadata(GATEWAY_METADATA, metatype)) continue;
      const path = joinPath((Reflect.getMetadata(GATEWAY_OPTIONS, metatype) as { path?: string } | undefined)?.path ?? '');
      // A gateway is outside the guard: it authenticates its own connections.
      routes.push({ key: `WS ${path}`, method: 'WS', path, isPublic: true, leastRole: undefined, platformOperator: false });
    }
    return routes.sort((a, b) => a.key.localeCompare(b.key));
  } finally {
    await ctx.close();
  }
}
