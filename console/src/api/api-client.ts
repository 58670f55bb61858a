import createClient, { type FetchOptions } from 'openapi-fetch';
import type { Readable, ResponseObjectMap, SuccessResponse } from 'openapi-typescript-helpers';
import type { paths } from '../../../src/protocol/api-schema';

/** An error answer from the control plane: `{"error": {"code", "message", "details"?}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = (error: ApiError) => void;
const unauthenticatedListeners = new Set<Listener>();

/** Called whenever the API says the session is gone (expired, logged out elsewhere). */
export function onUnauthenticated(listener: Listener): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

/** The control plane's API, typed by its OpenAPI document. */
export const client = createClient<paths>({
  credentials: 'same-origin',
  headers: { accept: 'application/json' },
  // Bound late, so that a test's stand-in for globalThis.fetch is the one called.
  fetch: (request) => globalThis.fetch(request),
});

export type Method = 'get' | 'put' | 'post' | 'patch' | 'delete';
/** The document's paths that answer `method`. */
export type PathOf<M extends Method> = { [P in keyof paths]: paths[P] extends Record<M, object> ? P : never }[keyof paths];
type Operation<P extends PathOf<M>, M extends Method> = NonNullable<paths[P][M]>;
/** What `method path` answers on success (undefined for a 204). */
export type Answer<P extends PathOf<M>, M extends Method = 'get'> = Readable<SuccessResponse<ResponseObjectMap<Operation<P, M>>, 'application/json'>>;
/** Its `{ path, query }` parameters. */
export type Params<P extends PathOf<M>, M extends Method = 'get'> = NonNullable<FetchOptions<Operation<P, M>>['params']>;
type Init<P extends PathOf<M>, M extends Method> = Pick<FetchOptions<Operation<P, M>>, 'params' | 'body'>;
/** The keys of T that must be given. */
export type RequiredKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? never : K }[keyof T];
/** The argument is optional when nothing in it is required. */
type Optional<T> = [RequiredKeys<T>] extends [never] ? [T?] : [T];

/** Reads the error body the control plane sends; anything else becomes a readable message. */
function errorOf(response: Response, body: unknown): ApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.message === 'string') return new ApiError(response.status, typeof error.code === 'string' ? error.code : 'ERROR', error.message, error.details);
  return new ApiError(response.status, 'HTTP_ERROR', `the control plane answered ${response.status} ${response.statusText}`.trim());
}

// The typed helpers check path, params and body against the document; this one does the work untyped.
const request = client.request as (method: Method, path: string, init?: { params?: object; body?: unknown }) => Promise<{ data?: unknown; error?: unknown; response: Response }>;

async function call(method: Method, path: string, init?: { params?: object; body?: unknown }): Promise<unknown> {
  let result: Awaited<ReturnType<typeof request>>;
  try {
    result = await request(method, path, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK_ERROR', 'the control plane cannot be reached; check your connection and try again');
  }
  const { data, error, response } = result;
  if (response.ok) return data;
  const apiError = errorOf(response, error);
  // A wrong password in a form is an answer about the form, not about the session.
  if (response.status === 401 && apiError.code !== 'INVALID_CREDENTIALS') for (const listener of unauthenticatedListeners) listener(apiError);
  throw apiError;
}

/**
 * Calls the control plane's JSON API with the session cookie and returns what it answered on
 * success; throws ApiError on an error answer. E.g. `get('/api/v1/projects/{id}', { path: { id } })`.
 */
export function get<P extends PathOf<'get'>>(path: P, ...[params]: Optional<Params<P>>): Promise<Answer<P>> {
  return call('get', path, { params }) as Promise<Answer<P>>;
}

export function post<P extends PathOf<'post'>>(path: P, ...[init]: Optional<Init<P, 'post'>>): Promise<Answer<P, 'post'>> {
  return call('post', path, init) as Promise<Answer<P, 'post'>>;
}

export function put<P extends PathOf<'put'>>(path: P, ...[init]: Optional<Init<P, 'put'>>): Promise<Answer<P, 'put'>> {
  return call('put', path, init) as Promise<Answer<P, 'put'>>;
}

export function patch<P extends PathOf<'patch'>>(path: P, ...[init]: Optional<Init<P, 'patch'>>): Promise<Answer<P, 'patch'>> {
  return call('patch', path, init) as Promise<Answer<P, 'patch'>>;
}

export function del<P extends PathOf<'delete'>>(path: P, ...[init]: Optional<Init<P, 'delete'>>): Promise<Answer<P, 'delete'>> {
  return call('delete', path, init) as Promise<Answer<P, 'delete'>>;
}

/** A message for any error a page may catch. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Builds `path?a=1&b=2`, leaving out empty values (for the console's own links). */
export function withQuery(path: string, query: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
