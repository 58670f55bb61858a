import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import createClient, { type Client } from 'openapi-fetch';
import { HttpClient } from '../../agent/src/http-client';
import type { paths } from '../../src/protocol/api-schema';
import { CLI_VERSION } from './version';
import { parseSse, type SseEvent } from './sse';

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const USER_AGENT = `corral-cli/${CLI_VERSION} (${os.platform()}; ${os.arch()}) node/${process.versions.node}`;

/** The server answered, and not with success: its code and message are what the user reads. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The server could not be reached or did not answer as Corral does. */
export class ConnectionError extends Error {}

export interface ApiSettings {
  url: string;
  apiKey: string;
  caFile: string | null;
}

/** What openapi-fetch answers: the success body in `data`, or the refusal's body in `error`. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * The control plane's API with an API key, typed by the API document (src/protocol/api-schema.ts):
 * `api.ok(api.client.GET('/api/v1/tasks/{id}', { params: { path: { id } } }))`. Connections go
 * through the agent's plumbing, so the CLI honours HTTPS_PROXY, NO_PROXY and a private CA bundle
 * exactly as the agent does.
 */
export class Api {
  readonly client: Client<paths>;
  private readonly transport: HttpClient;

  constructor(readonly settings: ApiSettings) {
    try {
      this.transport = new HttpClient({ caFile: settings.caFile });
    } catch (err) {
      throw new ConnectionError((err as Error).message);
    }
    this.client = createClient<paths>({ baseUrl: settings.url.replace(/\/+$/, ''), headers: { accept: 'application/json' }, fetch: (request) => this.fetch(request) });
  }

  /** The answer's body, or the server's refusal as an ApiError. */
  async ok<T>(pending: Promise<Answer<T>>): Promise<T> {
    let answer: Answer<T>;
    try {
      answer = await pending;
    } catch (err) {
      if (err instanceof SyntaxError) throw new ConnectionError(`${this.settings.url} answered with something that is not JSON: is CORRAL_URL the control plane's address?`);
      throw err;
    }
    if (!answer.response.ok) throw errorOf(answer.response.status, answer.error);
    return answer.data as T;
  }

  /** Follows a server-sent event stream until it ends or `signal` aborts; each event goes to `onEvent`. */
  async stream(path: string, onEvent: (event: SseEvent) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.send('GET', this.urlOf(path), undefined, 'text/event-stream', signal);
    if (res.statusCode! >= 300) throw errorOf(res.statusCode!, await readAll(res, this.settings.url));
    const parse = parseSse(onEvent);
    await new Promise<void>((resolve, reject) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parse(chunk));
      res.on('end', resolve);
      res.on('error', (err) => (signal?.aborted ? resolve() : reject(new ConnectionError(`the event stream from ${this.settings.url} broke: ${err.message}`))));
      signal?.addEventListener('abort', () => res.destroy(), { once: true });
    });
  }

  close() {
    this.transport.close();
  }

  private urlOf(path: string): URL {
    const base = new URL(this.settings.url);
    return new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base);
  }

  /** The client's fetch, over node:http and the agent's proxy and CA handling. */
  private async fetch(request: Request): Promise<Response> {
    const body = request.body ? await request.text() : undefined;
    const res = await this.send(request.method, new URL(request.url), body, request.headers.get('accept') ?? 'application/json', request.signal);
    const text = await readAll(res, this.settings.url);
    const status = res.statusCode!;
    return new Response(status === 204 || status === 304 || !text ? null : text, { status, headers: { 'content-type': String(res.headers['content-type'] ?? '') } });
  }

  private send(method: string, url: URL, body: string | undefined, accept: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const headers: Record<string, string> = { accept, 'user-agent': USER_AGENT, authorization: `Bearer ${this.settings.apiKey}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent: this.transport.agentFor(url, 'request'), signal }, resolve);
      req.setTimeout(60_000, () => req.destroy(Object.assign(new Error('no answer within 60 s'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new ConnectionError(reachError(err, url, this.transport.routeOf(url)))));
      req.end(body);
    });
  }
}

function readAll(res: http.IncomingMessage, server: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_RESPONSE_BYTES) res.destroy(new Error(`more than ${MAX_RESPONSE_BYTES} bytes`));
      else chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (err) => reject(new ConnectionError(`reading the answer from ${server} failed: ${err.message}`)));
  });
}

/** The server's `{error: {code, message}}` (as text or parsed), or what the status says when the body is not Corral's. */
export function errorOf(status: number, body: unknown): ApiError {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      // not JSON: a proxy's page, say
    }
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (error && typeof error.message === 'string') return new ApiError(status, typeof error.code === 'string' ? error.code : `HTTP_${status}`, error.message);
  const hint =
    status === 401 ? ': check CORRAL_API_KEY' : status === 404 ? ': check CORRAL_URL' : status === 407 ? ': the proxy wants credentials (HTTPS_PROXY=http://user:password@proxy:port)' : '';
  return new ApiError(status, `HTTP_${status}`, `the server answered HTTP ${status}${hint}`);
}

function reachError(err: NodeJS.ErrnoException, url: URL, route: string): string {
  const where = `${url.origin} (${route})`;
  switch (err.code) {
    case 'ECONNREFUSED':
      return `nothing answers at ${where}: is the control plane running, and is CORRAL_URL right?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${url.hostname}: check CORRAL_URL`;
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `${url.origin}'s certificate is not trusted: pass --ca-file or set CORRAL_CA_FILE to the CA bundle that signed it`;
    default:
      return `cannot reach ${where}: ${err.message}`;
  }
}
