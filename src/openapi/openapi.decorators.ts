import { SetMetadata } from '@nestjs/common';
import { ApiResponse, ApiSecurity } from '@nestjs/swagger';
import type { z } from 'zod';

// How a route tells the API document what it answers and what body it reads, next to the route
// itself. Response schemas are zod schemas (the `*.responses.ts` file of each module), turned into
// JSON Schema 2020-12 when the document is first asked for (json-schema.ts), not at startup.

/** The document's security schemes (openapi-document.ts defines them). */
export const SECURITY = { apiKey: 'apiKey', session: 'session', agentSignature: 'agentSignature', metricsToken: 'metricsToken' } as const;

type Handler<T> = (...args: never[]) => T | Promise<T>;

type Element<T> = T extends readonly (infer E)[] ? E : T;
/** The top-level fields (of the object, or of the array's items) in which A and B differ. */
type Differing<A, B> = { [K in keyof A & keyof B]: [A[K]] extends [B[K]] ? ([B[K]] extends [A[K]] ? never : K) : K }[keyof A & keyof B] | Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>;

/**
 * Holds when the handler's return type and the schema's output type fit each other both ways, so
 * the document can neither promise a field the handler does not return nor hide one it does. A
 * failure names the fields that differ; a view that returns a literal as `string` needs `as const`.
 */
type SameShape<T, S> = [T] extends [S]
  ? [S] extends [T]
    ? unknown
    : { 'the handler returns more than the response schema describes, in': Differing<Element<T>, Element<S>> | 'the whole answer' }
  : { "the handler's answer does not fit the response schema, in": Differing<Element<T>, Element<S>> | 'the whole answer' };

/**
 * The route answers `status` with a JSON body that `schema` describes. The handler's return type
 * must match the schema's (checked at compile time), so the two cannot drift apart.
 */
export function Responds<S extends z.ZodType>(status: number, schema: S, description = 'Success') {
  return <T>(target: object, key: string | symbol, descriptor: { value?: Handler<T> } & SameShape<Awaited<T>, z.output<S>>) => {
    ApiResponse({ status, description, standardSchema: schema })(target, key, descriptor as PropertyDescriptor);
  };
}

/** The route answers 204 with no body. */
export function RespondsEmpty(description = 'Done; there is nothing to return') {
  return (target: object, key: string | symbol, descriptor: { value?: Handler<void> }) => {
    ApiResponse({ status: 204, description })(target, key, descriptor as PropertyDescriptor);
  };
}

export const RAW_RESPONSE = 'corral:openapi-raw-response';

export interface RawResponse {
  status: number;
  description: string;
  /** Each media type the route may answer with, and the schema of that body. */
  content: Record<string, z.ZodType>;
}

/**
 * The route writes its answer itself (a stream, a file, Prometheus text, a choice by Accept): each
 * media type it may answer with, and the schema of that body. Nothing ties these to the handler's
 * code: keep them next to it.
 */
export const RespondsRaw = (status: number, content: RawResponse['content'], description: string) => SetMetadata(RAW_RESPONSE, { status, description, content } satisfies RawResponse);

export const BODY_SCHEMA = 'corral:openapi-body';

/**
 * The JSON body the route reads, for a handler that takes `unknown` and validates it itself with
 * parseOrReject(schema): give it the same schema. (DTO classes need nothing: their class-validator
 * rules are the document's schema.)
 */
export const BodySchema = (schema: z.ZodType) => SetMetadata(BODY_SCHEMA, schema);

/**
 * The route is part of the agent protocol: @Public to the guard, authenticated by the request's
 * signature (AgentAuthService), which the document's `agentSignature` scheme describes.
 */
export const AgentSigned = () => ApiSecurity(SECURITY.agentSignature);

/**
 * The route is @Public to the guard and checks the node's METRICS_TOKEN itself (the document's
 * `metricsToken` scheme); without a token set, it answers loopback callers only.
 */
export const MetricsTokenOrLoopback = () => ApiSecurity(SECURITY.metricsToken);
