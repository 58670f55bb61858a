import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { z } from 'zod';
import { messagesOf } from '../../../src/protocol/frames';
import {
  ENROLLMENT_SIGNER,
  fingerprintOf,
  generateAgentKeyPair,
  privateKeyFromPem,
  publicKeyFromRaw,
  rawPublicKey,
  signServerPayload,
  verificationCodeOf,
  verifyRequestSignature,
  SIGNATURE_HEADERS,
} from '../../../src/protocol/identity';
import {
  AGENT_PATHS,
  AgentHelloSchema,
  AgentMessagesRequestSchema,
  AgentSessionMessageSchema,
  EnrollRequestSchema,
  PollRequestSchema,
  PROTOCOL_VERSION,
  ServerMessageSchema,
  type AgentHello,
  type AgentJobMessage,
  type AgentSessionMessage,
  type AgentStatus,
  type EnrollRequest,
  type JobCancelPayload,
  type JobLog,
  type JobOfferPayload,
  type JobOffersPayload,
  type LocalPolicy,
  type PollRequest,
  type StatusPayload,
} from '../../../src/protocol/messages';
import type { Timings } from '../session';
import type { Identity } from '../state-store';

/** One request as the fake control plane saw it, with whether its signature verified. */
export interface SeenRequest {
  method: string;
  path: string;
  agentId: string | undefined;
  verified: boolean;
}

interface CannedAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function signingKeyPair(): { publicKey: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: rawPublicKey(publicKey), privateKey };
}

/**
 * A small stand-in for the control plane's agent endpoints, on 127.0.0.1, over a real socket:
 * it verifies signatures with the protocol's own functions and behaves as the contract says
 * (status after the hello, long-polls held until something changes).
 */
export class FakeControlPlane {
  readonly keyId = 'test-key-1';
  readonly serverKey = signingKeyPair();
  readonly agentKey = generateAgentKeyPair();
  readonly agentId = randomUUID();
  readonly agentName = 'web-01';
  /** The key requests from agentId must be signed with: the preset one, or the last enrolled. */
  agentPublicKey = this.agentKey.publicKey;
  url = '';

  status: AgentStatus = 'pending';
  statusReason: string | null = null;
  /** When set, WebSocket upgrades get this HTTP answer instead of 101. */
  refuseUpgrade: CannedAnswer | null = null;
  /** Answers served, in order, to the next long-polls instead of the normal behaviour. */
  readonly pollAnswers: CannedAnswer[] = [];
  /** Answers served to the next enrollment requests. */
  readonly enrollAnswers: CannedAnswer[] = [];
  holdMs = 2_000;

  readonly requests: SeenRequest[] = [];
  readonly hellos: AgentHello[] = [];
  readonly polls: PollRequest[] = [];
  readonly enrollments: EnrollRequest[] = [];
  readonly closes: number[] = [];
  /** Every WebSocket frame the agent sent (the hello's included), as the text received. */
  readonly frames: string[] = [];
  upgradeAttempts = 0;
  wsConnections = 0;

  // ---- jobs ----
  readonly organizationId = randomUUID();
  /** Every job message the agent sent (WebSocket frames and POST /messages), in order. */
  readonly jobMessages: AgentJobMessage[] = [];
  /** Every policy change the agent reported (`agent.policy`), in order. */
  readonly policyReports: LocalPolicy[] = [];
  /** Job messages that did not parse, or lacked `v` (or a finish its `result`): the agent must never send one. */
  readonly invalidMessages: unknown[] = [];
  /** Answers served, in order, to the next POST /messages instead of the normal behaviour. */
  readonly messagesAnswers: CannedAnswer[] = [];
  messagePosts = 0;
  /** Reply to an accept with a start. */
  autoStart = true;
  leaseSeconds = 30;
  /** Reply to each log chunk with a logAck. */
  ackLogs = true;
  /** Reply to a finish with a finishAck. */
  ackFinish = true;
  /** Stored chunks, by "jobId:attempt" then seq: each stored once, as the real server does. */
  readonly logs = new Map<string, Map<number, JobLog>>();
  /** Server messages waiting for the next long-poll (when no WebSocket is open). */
  private readonly outbox: unknown[] = [];

  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private readonly waiters = new Set<() => void>();
  private issuedAt = Date.now();

  constructor(options: { autoPong?: boolean } = {}) {
    this.wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  static async start(options: { autoPong?: boolean } = {}): Promise<FakeControlPlane> {
    const cp = new FakeControlPlane(options);
    await new Promise<void>((resolve) => cp.server.listen(0, '127.0.0.1', resolve));
    cp.url = `http://127.0.0.1:${(cp.server.address() as AddressInfo).port}`;
    return cp;
  }

  /** The identity.json an enrolled agent of this control plane would have. */
  identity(servers = [this.url]): Identity {
    return {
      version: 1,
      agentId: this.agentId,
      name: this.agentName,
      servers,
      publicKey: this.agentKey.publicKey,
      fingerprint: fingerprintOf(this.agentKey.publicKey),
      verificationCode: verificationCodeOf(this.agentKey.publicKey),
      serverKeys: [{ keyId: this.keyId, publicKey: this.serverKey.publicKey, fingerprint: fingerprintOf(this.serverKey.publicKey) }],
      caFile: null,
      enrolledAt: new Date().toISOString(),
    };
  }

  signer() {
    return { agentId: this.agentId, privateKey: privateKeyFromPem(this.agentKey.privateKeyPem) };
  }

  /** A signed status envelope; `forged` signs it with a key the agent never pinned. */
  statusEnvelope(status: AgentStatus, options: { forged?: boolean; reason?: string | null } = {}) {
    const payload: StatusPayload = { type: 'server.status', v: PROTOCOL_VERSION, agentId: this.agentId, status, reason: options.reason ?? this.statusReason, issuedAt: ++this.issuedAt };
    const text = JSON.stringify(payload);
    const key = options.forged ? signingKeyPair().privateKey : this.serverKey.privateKey;
    return { type: 'signed' as const, keyId: this.keyId, payload: text, signature: signServerPayload(text, key) };
  }

  setStatus(status: AgentStatus, reason: string | null = null) {
    this.status = status;
    this.statusReason = reason;
    const envelope = JSON.stringify(this.statusEnvelope(status));
    for (const ws of this.sockets) ws.send(envelope);
    this.wake();
  }

  /** Sends any message to every connected WebSocket. */
  broadcast(message: unknown) {
    for (const ws of this.sockets) ws.send(JSON.stringify(message));
  }

  /** Sends these messages to every connected WebSocket as one frame: a JSON array, in order. */
  broadcastFrame(messages: unknown[]) {
    for (const ws of this.sockets) ws.send(JSON.stringify(messages));
  }

  /** Over an open WebSocket if there is one, else with the next long-poll answer. */
  deliver(message: unknown) {
    if (this.sockets.size) return this.broadcast(message);
    this.outbox.push(message);
    this.wake();
  }

  private sign(payload: JobOfferPayload | JobOffersPayload | JobCancelPayload | StatusPayload) {
    const text = JSON.stringify(payload);
    return { type: 'signed' as const, keyId: this.keyId, payload: text, signature: signServerPayload(text, this.serverKey.privateKey) };
  }

  /** A signed offer of a bash script (by default), and its payload. */
  offer(overrides: Partial<ScriptOffer> = {}): { payload: JobOfferPayload; envelope: ReturnType<FakeControlPlane['sign']> } {
    const payload = offerPayload({ agentId: this.agentId, organizationId: this.organizationId, name: 'test job', ...overrides });
    return { payload, envelope: this.sign(payload) };
  }

  /** Several offers (payloads from `offer()`) under one signature, as a claim that found more than one job sends them. */
  offersEnvelope(offers: JobOfferPayload[]) {
    return this.sign({ type: 'server.job.offers', v: PROTOCOL_VERSION, agentId: this.agentId, offers, issuedAt: Date.now() });
  }

  /** Signs and delivers an offer; returns its payload. */
  sendOffer(overrides: Partial<ScriptOffer> = {}): JobOfferPayload {
    const { payload, envelope } = this.offer(overrides);
    this.deliver(envelope);
    return payload;
  }

  /** Signs and delivers an offer of a health check (no user code); returns its payload. */
  sendHealthCheck(overrides: Partial<HealthCheckOffer> = {}): HealthCheckOffer {
    const payload = healthCheckOfferPayload({ agentId: this.agentId, organizationId: this.organizationId, name: 'health check', ...overrides });
    this.deliver(this.sign(payload));
    return payload;
  }

  sendCancel(jobId: string, options: { attempt?: number; reason?: string; graceSeconds?: number } = {}): JobCancelPayload {
    const payload: JobCancelPayload = {
      type: 'server.job.cancel',
      v: PROTOCOL_VERSION,
      agentId: this.agentId,
      jobId,
      attempt: options.attempt ?? 1,
      reason: options.reason ?? 'cancelled by admin@x',
      graceSeconds: options.graceSeconds ?? 1,
      issuedAt: Date.now(),
    };
    this.deliver(this.sign(payload));
    return payload;
  }

  /** Job messages of one type (and job), as the agent sent them. */
  sent<T extends AgentJobMessage['type']>(type: T, jobId?: string): Extract<AgentJobMessage, { type: T }>[] {
    return this.jobMessages.filter((m): m is Extract<AgentJobMessage, { type: T }> => m.type === type && (jobId === undefined || ('jobId' in m && m.jobId === jobId)));
  }

  /** The stored output of a job attempt, in sequence order; one stream, or all. */
  logText(jobId: string, stream?: JobLog['stream'], attempt = 1): string {
    const chunks = [...(this.logs.get(`${jobId}:${attempt}`)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    return chunks
      .filter((c) => !stream || c.stream === stream)
      .map((c) => c.text)
      .join('');
  }

  /** The next sequence the server expects: every chunk below it is stored. */
  nextSeq(jobId: string, attempt = 1): number {
    const stored = this.logs.get(`${jobId}:${attempt}`);
    let next = 0;
    while (stored?.has(next)) next++;
    return next;
  }

  /** Makes long-polls fail once (the agent reconnects) and drops every WebSocket. */
  dropConnections() {
    this.pollAnswers.push({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'dropped by the test' } } });
    for (const ws of this.sockets) ws.terminate();
    this.wake();
  }

  /**
   * What the server answers to one job message: start, logAck, finishAck, per the switches above.
   * Written as the schema's input, as the real server writes them; the agent parses what it gets.
   */
  private replyTo(message: AgentSessionMessage): z.input<typeof ServerMessageSchema>[] {
    if (message.type === 'agent.policy') {
      this.policyReports.push(message.policy);
      return [];
    }
    this.jobMessages.push(message);
    switch (message.type) {
      case 'agent.job.accept':
        return this.autoStart ? [{ type: 'server.job.start', jobId: message.jobId, attempt: message.attempt, leaseSeconds: this.leaseSeconds }] : [];
      case 'agent.job.log': {
        const key = `${message.jobId}:${message.attempt}`;
        const stored = this.logs.get(key) ?? new Map<number, JobLog>();
        this.logs.set(key, stored);
        if (!stored.has(message.seq)) stored.set(message.seq, message);
        return this.ackLogs ? [{ type: 'server.job.logAck', jobId: message.jobId, attempt: message.attempt, nextSeq: this.nextSeq(message.jobId, message.attempt) }] : [];
      }
      case 'agent.job.finish':
        return this.ackFinish ? [{ type: 'server.job.finishAck', jobId: message.jobId, attempt: message.attempt }] : [];
      default:
        return [];
    }
  }

  closeAll(code: number, reason: string) {
    for (const ws of this.sockets) ws.close(code, reason);
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  async stop() {
    for (const ws of this.sockets) ws.terminate();
    this.wake();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private wake() {
    for (const waiter of [...this.waiters]) waiter();
  }

  private verify(method: string, path: string, headers: http.IncomingHttpHeaders, body: string, publicKey: string | null): SeenRequest {
    const agentId = headers[SIGNATURE_HEADERS.agentId] as string | undefined;
    const timestamp = Number(headers[SIGNATURE_HEADERS.timestamp]);
    const nonce = headers[SIGNATURE_HEADERS.nonce] as string | undefined;
    const signature = headers[SIGNATURE_HEADERS.signature] as string | undefined;
    const expectedKey = publicKey ?? (agentId === this.agentId ? this.agentPublicKey : null);
    const verified =
      !!agentId &&
      !!nonce &&
      !!signature &&
      !!expectedKey &&
      Math.abs(Date.now() - timestamp) < 60_000 &&
      verifyRequestSignature({ method, path, timestamp, nonce, body, agentId }, signature, publicKeyFromRaw(expectedKey));
    const seen = { method, path, agentId, verified };
    this.requests.push(seen);
    return seen;
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer) {
    this.upgradeAttempts++;
    const seen = this.verify('GET', req.url ?? '', req.headers, '', null);
    const refusal = this.refuseUpgrade ?? (seen.verified ? null : { status: 401, body: { error: { code: 'BAD_SIGNATURE', message: 'signature does not verify' } } });
    if (req.url !== AGENT_PATHS.ws) return socket.destroy();
    if (refusal) {
      const body = JSON.stringify(refusal.body);
      socket.end(`HTTP/1.1 ${refusal.status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.wsConnections++;
      this.sockets.add(ws);
      ws.on('close', (code) => {
        this.closes.push(code);
        this.sockets.delete(ws);
      });
      let helloSeen = false;
      const receive = (json: unknown) => {
        if (!helloSeen) {
          const hello = AgentHelloSchema.safeParse(json);
          if (!hello.success) return ws.close(4400, 'BAD_HELLO: not a hello');
          helloSeen = true;
          this.hellos.push(hello.data);
          ws.send(JSON.stringify(this.statusEnvelope(this.status)));
          for (const message of this.outbox.splice(0)) ws.send(JSON.stringify(message));
          return;
        }
        const message = AgentSessionMessageSchema.safeParse(json);
        if (!message.success || !speaksThisProtocol(json)) {
          this.invalidMessages.push(json);
          return ws.send(
            JSON.stringify({ type: 'server.error', jobId: null, code: 'VALIDATION_FAILED', message: message.error?.message ?? 'no protocol version (v), or a finish without result' }),
          );
        }
        for (const reply of this.replyTo(message.data)) ws.send(JSON.stringify(reply));
      };
      // The agent sends several messages together as one array.
      ws.on('message', (data) => {
        const text = data.toString();
        this.frames.push(text);
        messagesOf(JSON.parse(text)).forEach(receive);
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const reply = (answer: CannedAnswer) => {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(JSON.stringify(answer.body));
    };
    const path = req.url ?? '';

    if (req.method === 'GET' && path === AGENT_PATHS.time) return reply({ status: 200, body: { serverTime: Date.now() } });

    if (req.method === 'POST' && path === AGENT_PATHS.enroll) {
      const parsed = EnrollRequestSchema.safeParse(JSON.parse(body));
      if (!parsed.success) return reply({ status: 422, body: { error: { code: 'VALIDATION_FAILED', message: parsed.error.message } } });
      const seen = this.verify('POST', path, req.headers, body, parsed.data.publicKey);
      if (!seen.verified || seen.agentId !== ENROLLMENT_SIGNER) return reply({ status: 401, body: { error: { code: 'BAD_SIGNATURE', message: 'enrollment signature does not verify' } } });
      this.enrollments.push(parsed.data);
      const canned = this.enrollAnswers.shift();
      if (canned) return reply(canned);
      this.agentPublicKey = parsed.data.publicKey;
      return reply({
        status: 201,
        body: {
          agentId: this.agentId,
          name: parsed.data.name,
          fingerprint: fingerprintOf(parsed.data.publicKey),
          verificationCode: verificationCodeOf(parsed.data.publicKey),
          status: 'pending',
          conflictsWith: null,
          serverKeys: [{ keyId: this.keyId, publicKey: this.serverKey.publicKey, fingerprint: fingerprintOf(this.serverKey.publicKey) }],
        },
      });
    }

    if (req.method === 'GET' && path === AGENT_PATHS.whoami) {
      const seen = this.verify('GET', path, req.headers, body, null);
      if (!seen.verified) return reply({ status: 401, body: { error: { code: 'BAD_SIGNATURE', message: 'signature does not verify' } } });
      return reply({ status: 200, body: { agentId: this.agentId, name: this.agentName, status: this.status } });
    }

    if (req.method === 'POST' && path === AGENT_PATHS.poll) {
      const seen = this.verify('POST', path, req.headers, body, null);
      const canned = this.pollAnswers.shift();
      if (canned) return reply(canned);
      if (!seen.verified) return reply({ status: 401, body: { error: { code: 'BAD_SIGNATURE', message: 'signature does not verify' } } });
      const poll = PollRequestSchema.parse(JSON.parse(body));
      this.polls.push(poll);
      if (this.status === 'revoked') return reply({ status: 403, body: { error: { code: 'AGENT_REVOKED', message: `agent "${this.agentName}" was revoked` } } });
      if (poll.knownStatus === this.status && !this.outbox.length) {
        // Hold until the status changes or there is news, as the real server does, but never past holdMs.
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, this.holdMs);
          this.waiters.add(done);
        });
      }
      const messages = poll.knownStatus === this.status ? [] : [this.statusEnvelope(this.status)];
      messages.push(...(this.outbox.splice(0) as typeof messages));
      return reply({ status: 200, body: { messages, serverTime: Date.now() } });
    }

    if (req.method === 'POST' && path === AGENT_PATHS.messages) {
      this.messagePosts++;
      const seen = this.verify('POST', path, req.headers, body, null);
      const canned = this.messagesAnswers.shift();
      if (canned) return reply(canned);
      if (!seen.verified) return reply({ status: 401, body: { error: { code: 'BAD_SIGNATURE', message: 'signature does not verify' } } });
      const json = JSON.parse(body) as { messages?: unknown };
      const parsed = AgentMessagesRequestSchema.safeParse(json);
      if (!parsed.success || !(json.messages as unknown[]).every(speaksThisProtocol)) {
        this.invalidMessages.push(json);
        return reply({ status: 422, body: { error: { code: 'VALIDATION_FAILED', message: parsed.error?.message ?? 'no protocol version (v), or a finish without result' } } });
      }
      const replies = parsed.data.messages.flatMap((m) => this.replyTo(m));
      return reply({ status: 200, body: { messages: replies, serverTime: Date.now() } });
    }
    reply({ status: 404, body: { error: { code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${path}` } } });
  }
}

/**
 * The real server takes a job message without `v` (or a finish without `result`) as version 1,
 * for agents from before they existed; this agent must always send both, so the fake refuses it.
 */
function speaksThisProtocol(json: unknown): boolean {
  if (typeof json !== 'object' || json === null) return false;
  const m = json as Record<string, unknown>;
  return m.v === PROTOCOL_VERSION && (m.type !== 'agent.job.finish' || 'result' in m);
}

/** An offer of `echo hello` in bash for a new job of a new task, as the control plane would sign it. */
export type ScriptOffer = Extract<JobOfferPayload, { kind: 'script' }>;

export function offerPayload(overrides: Partial<ScriptOffer> & Pick<ScriptOffer, 'agentId'>): ScriptOffer {
  return {
    type: 'server.job.offer',
    v: PROTOCOL_VERSION,
    jobId: randomUUID(),
    attempt: 1,
    taskId: randomUUID(),
    organizationId: randomUUID(),
    name: 'job',
    kind: 'script',
    payloadVersion: 1,
    script: { syntax: 'bash', body: 'echo hello' },
    timeoutSeconds: 60,
    sensitiveValues: [],
    issuedAt: Date.now(),
    ...overrides,
  };
}

export type HealthCheckOffer = Extract<JobOfferPayload, { kind: 'health-check' }>;

/** An offer of a health check for a new job of a new task, as the control plane would sign it. */
export function healthCheckOfferPayload(overrides: Partial<HealthCheckOffer> & Pick<HealthCheckOffer, 'agentId'>): HealthCheckOffer {
  return {
    type: 'server.job.offer',
    v: PROTOCOL_VERSION,
    jobId: randomUUID(),
    attempt: 1,
    taskId: randomUUID(),
    organizationId: randomUUID(),
    name: 'health check',
    kind: 'health-check',
    payloadVersion: 1,
    timeoutSeconds: 60,
    sensitiveValues: [],
    issuedAt: Date.now(),
    ...overrides,
  };
}

/** Session timings short enough for tests: pings, timeouts and back-off in milliseconds. */
export const FAST_TIMINGS: Partial<Timings> = {
  pingIntervalMs: 1_000,
  idleTimeoutMs: 5_000,
  handshakeTimeoutMs: 2_000,
  pollTimeoutMs: 5_000,
  minPollMs: 20,
  closeGraceMs: 500,
  backoff: { baseMs: 10, capMs: 50 },
};

/** Waits for a condition, polling; fails after `timeoutMs` with what was awaited. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
