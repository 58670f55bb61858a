import { type INestApplication, ParseUUIDPipe, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, type OperationObject, type ParameterObject, type ResponseObject, type ResponsesObject, SwaggerModule } from '@nestjs/swagger';
import type { z } from 'zod';
import { PLATFORM_OPERATOR, PUBLIC_ROUTE, REQUIRED_ROLE } from '../common/actor';
import type { Role } from '../orgs/roles';
import { ErrorBodySchema, SIGNATURE_HEADERS } from '../protocol';
import { dtoSchemas, referencedComponents, toOpenApi31 } from './dto-schemas';
import { standardSchemaConverter, zodToOpenApi } from './json-schema';
import { BODY_SCHEMA, RAW_RESPONSE, type RawResponse, SECURITY } from './openapi.decorators';

type JsonSchema = Record<string, unknown>;

const DESCRIPTION = `The Corral control plane's API.

**Authentication.** Send an API key as \`Authorization: Bearer crl_…\` (create one with \`POST /api/v1/api-keys\` or in the console), or the session cookie \`corral_session\` that \`POST /api/v1/auth/login\` sets. A cookie-authenticated request that changes state must come from the control plane's own origin. Each operation says the least role it needs (\`x-corral-least-role\`: viewer < operator < admin < owner); platform operations answer 404 to anyone not listed in \`CORRAL_PLATFORM_OPERATORS\`.

**Errors.** Every error has one shape, \`{"error": {"code", "message", "details"?}}\`; \`code\` is stable, \`message\` says what to do. A validation failure (422 \`VALIDATION_FAILED\`) lists each bad field in \`details\`.

**Agents.** The routes under \`/api/agent/v1\` are the agent protocol: each request is signed with the agent's Ed25519 key (see the \`agentSignature\` scheme), never with a user's credentials. The agents' WebSocket (\`/api/agent/v1/ws\`) carries the same signed messages and is not described here.`;

/** Operation ids are `<Controller>_<method>`: stable as long as the handler keeps its name. */
export const operationIdOf = (controller: string, method: string) => `${controller.replace(/Controller$/, '')}_${method}`;

/**
 * The API document, from the application's controllers: paths and parameters as Nest maps them
 * (SwaggerModule), request bodies from the DTOs' class-validator rules (dto-schemas.ts) or the zod
 * schema a handler validates with (@BodySchema), answers from @Responds, who may call what from
 * @Public/@RequireRole/@RequirePlatformOperator. Needs the module graph only: an application
 * created with `preview: true` (no database) gives the same document as a running node.
 */
export function buildOpenApiDocument(app: INestApplication, serverUrl: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Corral')
    .setDescription(DESCRIPTION)
    .setVersion('1')
    .setOpenAPIVersion('3.1.0')
    .addServer(serverUrl)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'crl_…', description: 'An API key: `Authorization: Bearer crl_…`.' }, SECURITY.apiKey)
    .addCookieAuth('corral_session', { type: 'apiKey', in: 'cookie', description: 'The session cookie set by login, signup or accepting an invitation.' }, SECURITY.session)
    .addSecurity(SECURITY.agentSignature, {
      type: 'apiKey',
      in: 'header',
      name: SIGNATURE_HEADERS.signature,
      description: `Agent protocol requests carry \`${SIGNATURE_HEADERS.agentId}\`, \`${SIGNATURE_HEADERS.timestamp}\` (ms since the epoch), \`${SIGNATURE_HEADERS.nonce}\` and \`${SIGNATURE_HEADERS.signature}\`: the base64 Ed25519 signature, by the agent's key, of "corral-agent-request-v1", the method, the path with its query, the timestamp, the nonce, the body's SHA-256 and the agent id, one per line. Enrolment signs with the agent id "enroll" and the key it presents. A nonce is accepted once; the timestamp must be within the clock skew the node allows (GET /api/agent/v1/time).`,
    })
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: "The node's METRICS_TOKEN: `Authorization: Bearer <token>`. Without METRICS_TOKEN set, `/metrics` answers loopback callers only." },
      SECURITY.metricsToken,
    )
    .addSecurityRequirements(SECURITY.apiKey)
    .addSecurityRequirements(SECURITY.session)
    .build();
  const document = SwaggerModule.createDocument(app, config, { standardSchemaConverter, operationIdFactory: operationIdOf });
  complete(document, handlersOf(app));
  return toOpenApi31(document) as OpenAPIObject;
}

interface Handler {
  operationId: string;
  method: string;
  isPublic: boolean;
  leastRole: Role | undefined;
  platformOperator: boolean;
  queryType: unknown;
  bodyType: unknown;
  bodySchema: z.ZodType | undefined;
  rawResponse: RawResponse | undefined;
  uuidParams: string[];
}

/** Every controller method Nest routes, with what the document needs to know of it. */
function handlersOf(app: INestApplication): Handler[] {
  const reflector = new Reflector();
  const scanner = new MetadataScanner();
  const handlers: Handler[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const { metatype } of module.controllers.values()) {
      if (!metatype) continue;
      const prototype = metatype.prototype as Record<string, (...args: unknown[]) => unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        const targets = [handler, metatype];
        const args = Object.entries((Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<string, { index: number; data?: unknown; pipes?: unknown[] }>);
        const types = (Reflect.getMetadata('design:paramtypes', prototype, name) ?? []) as unknown[];
        const whole = (kind: RouteParamtypes) => args.find(([key, arg]) => key.startsWith(`${kind}:`) && arg.data === undefined)?.[1];
        const query = whole(RouteParamtypes.QUERY);
        const body = whole(RouteParamtypes.BODY);
        handlers.push({
          operationId: operationIdOf(metatype.name, name),
          method: RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod],
          isPublic: reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) ?? false,
          leastRole: reflector.getAllAndOverride<Role | undefined>(REQUIRED_ROLE, targets),
          platformOperator: reflector.getAllAndOverride<boolean>(PLATFORM_OPERATOR, targets) ?? false,
          queryType: query && types[query.index],
          bodyType: body && types[body.index],
          bodySchema: reflector.get<z.ZodType | undefined>(BODY_SCHEMA, handler),
          rawResponse: reflector.get<RawResponse | undefined>(RAW_RESPONSE, handler),
          uuidParams: args
            .filter(([key, arg]) => key.startsWith(`${RouteParamtypes.PARAM}:`) && typeof arg.data === 'string' && arg.pipes?.some((p) => p === ParseUUIDPipe || p instanceof ParseUUIDPipe))
            .map(([, arg]) => arg.data as string),
        });
      }
    }
  }
  return handlers;
}

const errorResponse = (description: string): ResponseObject => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

const ERROR_RESPONSES = {
  BadRequest: errorResponse('The body is not JSON or nests too deep, or an id in the path is not a UUID (`MALFORMED_JSON`, `BODY_TOO_DEEP`, `BAD_REQUEST`).'),
  Unauthenticated: errorResponse('No credentials, or ones that are unknown, expired or revoked (`UNAUTHENTICATED`).'),
  Forbidden: errorResponse("The caller's role is below the route's least role, or a cookie-authenticated change came from another origin (`FORBIDDEN`, `CSRF_REJECTED`)."),
  NotFound: errorResponse('Nothing by that id in your organisation (`NOT_FOUND`).'),
  ValidationFailed: errorResponse('A field is missing or invalid (`VALIDATION_FAILED`); `details` names each field and what is wrong with it.'),
  RateLimited: errorResponse('Too many requests (`RATE_LIMITED`); `Retry-After` says when to try again.'),
  ClientError: errorResponse('Any other refusal, e.g. a conflict with the current state (409 `CONFLICT`) or a body over the size limit (413).'),
};
const ref = (name: keyof typeof ERROR_RESPONSES) => ({ $ref: `#/components/responses/${name}` });

/** What swagger cannot know from the decorators alone: access, query DTOs, zod bodies, raw answers, errors, DTO schemas. */
function complete(document: OpenAPIObject, handlers: Handler[]) {
  const operations = new Map<string, OperationObject>();
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as OperationObject[]) if (operation?.operationId) operations.set(operation.operationId, operation);
  }
  const components = document.components!;
  const schemas = (components.schemas ??= {}) as Record<string, JsonSchema>;
  const dtos = dtoSchemas();
  const dtoNames = new Set<string>();
  for (const handler of handlers) {
    const operation = operations.get(handler.operationId);
    if (!operation) throw new Error(`the API document has no operation ${handler.operationId}`);
    describeAccess(operation, handler);
    for (const parameter of (operation.parameters ?? []) as ParameterObject[]) {
      if (parameter.in === 'path' && handler.uuidParams.includes(parameter.name)) parameter.schema = { type: 'string', format: 'uuid' };
    }
    const queryName = (handler.queryType as { name?: string } | undefined)?.name;
    if (queryName && dtos[queryName]) {
      operation.parameters = [...(operation.parameters ?? []), ...queryParameters(dtos[queryName], dtos)];
    }
    const bodyName = (handler.bodyType as { name?: string } | undefined)?.name;
    if (bodyName && dtos[bodyName]) dtoNames.add(bodyName);
    if (handler.bodySchema) {
      const converted = zodToOpenApi(handler.bodySchema, 'input');
      Object.assign(schemas, converted.components);
      operation.requestBody = { required: true, content: { 'application/json': { schema: converted.schema as JsonSchema } } };
    }
    if (handler.rawResponse) {
      const { status, description, content } = handler.rawResponse;
      const media = Object.entries(content).map(([type, schema]) => {
        const converted = zodToOpenApi(schema, 'output');
        Object.assign(schemas, converted.components);
        return [type, { schema: converted.schema as JsonSchema }] as const;
      });
      // Replaces the success answer swagger assumed.
      for (const code of Object.keys(operation.responses)) if (/^2/.test(code)) delete operation.responses[code];
      operation.responses[status] = { description, content: Object.fromEntries(media) };
    }
    operation.responses = { ...operation.responses, ...errorsOf(handler, operation) };
  }
  // The body DTOs swagger refers to, and the DTOs they nest (query DTOs are parameters instead).
  for (const name of referencedComponents(dtoNames, dtos)) schemas[name] = dtos[name];
  const error = zodToOpenApi(ErrorBodySchema, 'output');
  Object.assign(schemas, error.components, { Error: error.schema });
  components.responses = { ...components.responses, ...ERROR_RESPONSES };
}

function queryParameters(dto: JsonSchema, dtos: Record<string, JsonSchema>): ParameterObject[] {
  const required = new Set((dto.required as string[] | undefined) ?? []);
  return Object.entries((dto.properties ?? {}) as Record<string, JsonSchema>).map(([name, property]) => {
    // A query parameter is there or not: it has no null.
    const { nullable: _absent, ...schema } = typeof property.$ref === 'string' ? dtos[property.$ref.split('/').pop()!] : property;
    return { name, in: 'query', required: required.has(name), schema };
  });
}

/** Public to the guard, but checking a credential of its own, which the operation's security names. */
function checksOwn(handler: Handler, operation: OperationObject, ...schemes: string[]): boolean {
  return handler.isPublic && !!operation.security?.some((s) => schemes.some((scheme) => scheme in s));
}

function describeAccess(operation: OperationObject, handler: Handler) {
  if (handler.isPublic && !checksOwn(handler, operation, SECURITY.agentSignature, SECURITY.metricsToken)) operation.security = [];
  if (handler.isPublic) return;
  const access = handler.platformOperator ? 'Platform operators only (`CORRAL_PLATFORM_OPERATORS`); to anyone else this route does not exist (404).' : `Least role: ${handler.leastRole}.`;
  operation.description = operation.description ? `${access}\n\n${operation.description}` : access;
  (operation as OperationObject & Record<string, unknown>)['x-corral-least-role'] = handler.leastRole;
}

function errorsOf(handler: Handler, operation: OperationObject): ResponsesObject {
  const takesBody = !!operation.requestBody;
  const takesQuery = !!operation.parameters?.some((p) => (p as ParameterObject).in === 'query');
  const agentProtocol = checksOwn(handler, operation, SECURITY.agentSignature);
  const metricsToken = checksOwn(handler, operation, SECURITY.metricsToken);
  return {
    ...(takesBody || handler.uuidParams.length ? { 400: ref('BadRequest') } : {}),
    ...(handler.isPublic && !agentProtocol && !metricsToken ? {} : { 401: ref('Unauthenticated') }),
    ...(metricsToken || (!handler.isPublic && !handler.platformOperator && (handler.leastRole !== 'viewer' || handler.method !== 'GET')) ? { 403: ref('Forbidden') } : {}),
    ...(operation.parameters?.some((p) => (p as ParameterObject).in === 'path') || handler.platformOperator ? { 404: ref('NotFound') } : {}),
    ...(takesBody || takesQuery ? { 422: ref('ValidationFailed') } : {}),
    ...(agentProtocol ? {} : { 429: ref('RateLimited') }),
    '4XX': ref('ClientError'),
  };
}
