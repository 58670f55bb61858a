import { hostname } from 'node:os';
import WebSocket from 'ws';
import { generateAgentKeyPair, privateKeyFromPem, publicKeyFromRaw, signRequest, verifyServerPayload, ENROLLMENT_SIGNER } from '../../src/protocol/identity';
import { messagesOf } from '../../src/protocol/frames';
import {
  AGENT_PATHS,
  type AgentSessionMessageInput,
  type EnrollResponse,
  type JobOfferPayload,
  PROTOCOL_VERSION,
  type ServerMessage,
  SignedPayloadSchema,
  StatusPayloadSchema,
} from '../../src/protocol/messages';
import { waitFor } from './control-plane-process';
import type { HttpResponse } from './http-client';

/** An agent speaking the wire protocol from inside a test: signs requests with a real Ed25519 key. */
export class ProtocolAgent {
  readonly keys = generateAgentKeyPair();
  private readonly privateKey = privateKeyFromPem(this.keys.privateKeyPem);
  agentId = '';
  serverKeys: EnrollResponse['serverKeys'] = [];

  constructor(
    readonly baseUrl: string,
    readonly name = `host-${Math.random().toString(36).slice(2, 8)}`,
  ) {}

  /** The same agent (same key and identity), talking to another control-plane node. */
  at(baseUrl: string): ProtocolAgent {
    return Object.assign(Object.create(ProtocolAgent.prototype) as ProtocolAgent, this, { baseUrl });
  }

  maxJobs = 1;
  policy: Record<string, unknown> | null = null;

  hello() {
    return { type: 'agent.hello' as const, v: PROTOCOL_VERSION, hostname: hostname(), os: 'linux', arch: 'x64', agentVersion: '0.1.0-test', policy: this.policy, maxJobs: this.maxJobs };
  }

  async signedFetch(method: string, path: string, body?: unknown, opts: { agentId?: string; now?: number; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers = {
      ...signRequest({ method, path, body: text, agentId: opts.agentId ?? this.agentId }, this.privateKey, opts.now),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    };
    return this.send(method, path, text, headers);
  }

  async send(method: string, path: string, text: string, headers: Record<string, string>): Promise<HttpResponse> {
    const res = await fetch(this.baseUrl + path, { method, headers, body: text || undefined });
    const raw = await res.text();
    return { status: res.status, headers: res.headers, text: raw, body: raw && res.headers.get('content-type')?.includes('json') ? JSON.parse(raw) : raw };
  }

  /** The body is an EnrollResponse on 201, an error body otherwise. */
  async enroll(token: string): Promise<HttpResponse> {
    const res = await this.signedFetch(
      'POST',
      AGENT_PATHS.enroll,
      { token, publicKey: this.keys.publicKey, name: this.name, ...this.hello(), type: undefined, v: undefined },
      { agentId: ENROLLMENT_SIGNER },
    );
    if (res.status === 201) {
      this.agentId = res.body.agentId;
      this.serverKeys = res.body.serverKeys;
    }
    return res;
  }

  poll(knownStatus: string | null) {
    return this.signedFetch('POST', AGENT_PATHS.poll, { ...this.hello(), knownStatus });
  }

  /** Job messages (and policy changes) the long-polling way; the reply carries the server's answers. */
  post(messages: AgentSessionMessageInput[]) {
    return this.signedFetch('POST', AGENT_PATHS.messages, { messages });
  }

  /** Verifies any server-signed message (status, offer, cancel) and returns its payload. */
  open(message: ServerMessage) {
    if (message.type !== 'signed') throw new Error(`not a signed message: ${message.type}`);
    const key = this.serverKeys.find((k) => k.keyId === message.keyId);
    if (!key || !verifyServerPayload(message.payload, message.signature, publicKeyFromRaw(key.publicKey))) throw new Error('server signature does not verify');
    return SignedPayloadSchema.parse(JSON.parse(message.payload));
  }

  /** The offers in a message (verified): one, several signed together, or none. */
  offersIn(message: ServerMessage): JobOfferPayload[] {
    if (message.type !== 'signed') return [];
    const p = this.open(message);
    return p.type === 'server.job.offer' ? [p] : p.type === 'server.job.offers' ? p.offers : [];
  }

  /** Verifies a server-signed message against the pinned keys and returns its payload. */
  verify(message: ServerMessage) {
    if (message.type !== 'signed') throw new Error(`not a signed message: ${message.type}`);
    const key = this.serverKeys.find((k) => k.keyId === message.keyId);
    if (!key || !verifyServerPayload(message.payload, message.signature, publicKeyFromRaw(key.publicKey))) throw new Error('server signature does not verify');
    return StatusPayloadSchema.parse(JSON.parse(message.payload));
  }

  /**
   * Opens the agent WebSocket and collects what arrives; with `autoPong: false` it leaves the
   * server's pings unanswered, with `hello: false` the test sends the hello itself.
   */
  connect({ autoPong = true, hello = true } = {}): Promise<AgentSocket> {
    const url = this.baseUrl.replace(/^http/, 'ws') + AGENT_PATHS.ws;
    const ws = new WebSocket(url, { autoPong, headers: signRequest({ method: 'GET', path: AGENT_PATHS.ws, body: '', agentId: this.agentId }, this.privateKey) });
    const socket = new AgentSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        if (hello) ws.send(JSON.stringify(this.hello()));
        resolve(socket);
      });
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }
}

export class AgentSocket {
  readonly messages: ServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  /** The server's pings that arrived. */
  pings = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('ping', () => this.pings++);
    // A frame carries one message or several (an array).
    ws.on('message', (data: Buffer) => this.messages.push(...(messagesOf(JSON.parse(data.toString())) as ServerMessage[])));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  close() {
    this.ws.close();
  }

  send(message: AgentSessionMessageInput) {
    this.ws.send(JSON.stringify(message));
  }

  /** Several messages in one frame (a JSON array), as an agent sends what it has at one moment. */
  sendTogether(messages: AgentSessionMessageInput[]) {
    this.ws.send(JSON.stringify(messages));
  }

  /** Waits for a message that `match` accepts (returning something), searching from `from`. */
  next<T>(what: string, match: (m: ServerMessage) => T | undefined | null | false, from = 0, timeoutMs = 10_000): Promise<NonNullable<T>> {
    return waitFor(
      what,
      () => {
        for (const m of this.messages.slice(from)) {
          const r = match(m);
          if (r) return r;
        }
        return undefined;
      },
      timeoutMs,
    );
  }
}

/** The offer in `m` (of task `taskId`, when given); several may come signed together. */
export function offerIn(agent: ProtocolAgent, m: ServerMessage, taskId?: string): JobOfferPayload | undefined {
  return agent.offersIn(m).find((o) => !taskId || o.taskId === taskId);
}
