import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import tls from 'node:tls';
import type { KeyObject } from 'node:crypto';
import { signRequest } from '../../src/protocol/identity';
import { AGENT_PATHS } from '../../src/protocol/messages';
import { AgentError, ConfigError, classifyHttpResponse, classifyNetworkError } from './errors';
import { HttpTunnelAgent, HttpsTunnelAgent, proxyForUrl, proxySettingsFromEnv, redactProxyUrl, type ProxySettings } from './proxy-agent';
import { AGENT_VERSION } from './version';

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Who signs a request: the agent's id (or "enroll") and its private key. */
export interface Signer {
  agentId: string;
  privateKey: KeyObject;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  path: string; // an AGENT_PATHS entry, with its query if any
  body?: string;
  signer?: Signer;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface HttpClientOptions {
  caFile?: string | null;
  env?: NodeJS.ProcessEnv;
  connectTimeoutMs?: number;
}

/** Reads a PEM bundle and adds it to Node's own roots, as NODE_EXTRA_CA_CERTS would. */
export function loadCaBundle(caFile: string | null | undefined): string[] | undefined {
  if (!caFile) return undefined;
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the CA bundle ${caFile}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`${caFile} holds no PEM certificate (expected "-----BEGIN CERTIFICATE-----")`);
  return [...tls.rootCertificates, pem];
}

/** The request path under a server URL that may carry a path prefix (https://host/corral). */
export function pathUnder(server: string, path: string): string {
  const prefix = new URL(server).pathname.replace(/\/+$/, '');
  return `${prefix}${path}`;
}

export const USER_AGENT = `corral-agent/${AGENT_VERSION} (${os.platform()}; ${os.arch()}) node/${process.versions.node}`;

/**
 * Requests to the control plane over node:http/https, so the proxy tunnel and the CA bundle
 * apply the same way to every request and to the WebSocket upgrade.
 */
export class HttpClient {
  readonly ca: string[] | undefined;
  readonly proxySettings: ProxySettings;
  private readonly agents = new Map<string, http.Agent>();
  private readonly connectTimeoutMs: number;

  constructor(options: HttpClientOptions = {}) {
    this.ca = loadCaBundle(options.caFile);
    this.proxySettings = proxySettingsFromEnv(options.env ?? process.env);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
  }

  /** The proxy that applies to a URL, or null. */
  proxyFor(url: URL): URL | null {
    return proxyForUrl(url, this.proxySettings);
  }

  /** How a URL is reached, for logs: "directly" or "through proxy http://proxy:3128". */
  routeOf(url: URL): string {
    const proxy = this.proxyFor(url);
    return proxy ? `through proxy ${redactProxyUrl(proxy)}` : 'directly';
  }

  /**
   * The connection agent for a URL. Requests share keep-alive agents (a long-poll reuses its
   * connection); WebSocket upgrades get their own, since an upgraded socket leaves the pool.
   */
  agentFor(url: URL, purpose: 'request' | 'websocket'): http.Agent {
    const secure = url.protocol === 'https:' || url.protocol === 'wss:';
    const proxy = this.proxyFor(url);
    const key = `${purpose} ${secure ? 'https' : 'http'} ${url.host} ${proxy?.href ?? 'direct'}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const keepAlive = purpose === 'request';
      if (proxy) {
        const options = { keepAlive, ca: this.ca, proxyCa: this.ca, connectTimeoutMs: this.connectTimeoutMs };
        agent = secure ? new HttpsTunnelAgent(proxy, options) : new HttpTunnelAgent(proxy, options);
      } else {
        agent = secure ? new https.Agent({ keepAlive, ca: this.ca }) : new http.Agent({ keepAlive });
      }
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One request; resolves with any HTTP answer, rejects with a retryable AgentError on transport failure. */
  request(server: string, req: HttpRequest): Promise<HttpResponse> {
    const path = pathUnder(server, req.path);
    const url = new URL(path, server);
    const secure = url.protocol === 'https:';
    const body = req.body ?? '';
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    if (req.method === 'POST') {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    if (req.signer) Object.assign(headers, signRequest({ method: req.method, path, body, agentId: req.signer.agentId }, req.signer.privateKey));
    const timeoutMs = req.timeoutMs ?? 30_000;

    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: HttpResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(res as HttpResponse);
      };
      const request = (secure ? https : http).request(url, { method: req.method, headers, agent: this.agentFor(url, 'request') }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            request.destroy();
            finish(new AgentError('PROTOCOL_ERROR', `${url.origin} sent more than ${MAX_RESPONSE_BYTES} bytes`, 'retryable'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => finish(classifyNetworkError(err, url.origin)));
      });
      const timer = setTimeout(() => {
        const err = new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`) as NodeJS.ErrnoException;
        err.code = 'TIMEOUT';
        request.destroy(err);
      }, timeoutMs);
      const onAbort = () => {
        request.destroy();
        finish(new AgentError('ABORTED', 'stopped', 'retryable'));
      };
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (err) => finish(classifyNetworkError(err, url.origin)));
      request.end(body);
    });
  }

  /** A request whose answer must be 2xx JSON; anything else becomes a classified AgentError. */
  async requestJson(server: string, req: HttpRequest, what: string): Promise<unknown> {
    const res = await this.request(server, req);
    if (res.status < 200 || res.status >= 300) throw classifyHttpResponse(res.status, res.headers, res.text, what);
    try {
      return JSON.parse(res.text);
    } catch {
      throw new AgentError('PROTOCOL_ERROR', `${what}: ${server} answered HTTP ${res.status} with something that is not JSON`, 'retryable');
    }
  }

  /** The server's clock (GET /time, unsigned), and the round trip it took. */
  async serverTime(server: string, timeoutMs = 10_000): Promise<{ serverTime: number; sentAt: number; receivedAt: number }> {
    const sentAt = Date.now();
    const json = await this.requestJson(server, { method: 'GET', path: AGENT_PATHS.time, timeoutMs }, 'the time check');
    const receivedAt = Date.now();
    const serverTime = (json as { serverTime?: unknown } | null)?.serverTime;
    if (typeof serverTime !== 'number') throw new AgentError('PROTOCOL_ERROR', `${server}${AGENT_PATHS.time} did not answer {serverTime}`, 'retryable');
    return { serverTime, sentAt, receivedAt };
  }

  close() {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
