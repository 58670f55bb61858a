import type { KeyObject } from 'node:crypto';
import http from 'node:http';
import WebSocket from 'ws';
import { Backoff } from '../agent/src/backoff';
import { DEFAULT_TIMINGS } from '../agent/src/session';
import { messagesOf, packFrames } from '../src/protocol/frames';
import { signRequest } from '../src/protocol/identity';
import { AGENT_PATHS, CLOSE_CODES, PROTOCOL_VERSION, type HealthCheckResult, type JobOfferPayload, type ServerMessage } from '../src/protocol/messages';

export interface SimAgentOptions {
  id: string;
  privateKey: KeyObject;
  server: string;
  maxJobs: number;
  /** Called when an offer arrives, with the time it arrived. */
  onOffer?: (offer: JobOfferPayload, at: number) => void;
  /** Called when the control plane starts an accepted job (it is running there), with the time the start arrived. */
  onStart?: (jobId: string, at: number) => void;
  /** Called when the control plane acknowledges a finished job (it is recorded). */
  onFinished?: () => void;
  /** How long a job runs before it finishes (WebSocket only); at once when left out. */
  jobMs?: number;
}

// Like the real agent: node:http with connections kept alive, shared by every simulated agent of the process.
const keepAlive = new http.Agent({ keepAlive: true });

/** A POST over node:http, connections kept alive: lighter than fetch, as the real agent's client is. */
export function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What a healthy host reports: valid by HealthCheckResultSchema, so the control plane stores it as a real agent's. */
function healthyResult(): HealthCheckResult {
  return {
    kind: 'health-check',
    payloadVersion: 1,
    verdict: 'healthy',
    problems: [],
    facts: {
      agentVersion: 'bench',
      hostname: 'bench',
      os: 'linux',
      arch: 'x64',
      uptimeSeconds: 86_400,
      checkedAt: Date.now(),
      stateDir: { path: '/var/lib/corral-agent', freeBytes: 50 * 1024 ** 3, totalBytes: 100 * 1024 ** 3, writable: true },
      interpreters: {
        bash: { path: '/usr/bin/bash', version: 'GNU bash, version 5.2.15(1)-release' },
        sh: { path: '/usr/bin/sh', version: null },
        node: { path: '/usr/bin/node', version: 'v20.19.0' },
        pwsh: null,
      },
      policy: { source: 'default', allowedJobKinds: ['script', 'deployment', 'health-check'], allowScripts: true, runAs: null, allowedOrganizations: null, frozen: false },
    },
  };
}

const HELLO = { type: 'agent.hello', v: PROTOCOL_VERSION, hostname: 'bench', os: 'linux', arch: 'x64', agentVersion: 'bench', policy: null } as const;

/**
 * A simulated agent speaking the real protocol (signed upgrade or requests, hello, accept,
 * finish), finishing every job at once. Many run in one process. It reconnects as the real
 * agent does: full-jitter backoff, the server's Retry-After, and a server's request to come
 * back later. Offers are parsed without checking the server signature: that is the real
 * agent's cost, not the control plane's.
 */
export class SimAgent {
  ws: WebSocket | undefined;
  connected = false; // the control plane has answered the hello with the agent's status
  private stopped = false;
  private readonly backoff = new Backoff(DEFAULT_TIMINGS.backoff);
  private openedAt = 0;
  private reconnectIn: number | null = null;
  /** Accepted health checks, by job id, until their start: their finish carries a result. */
  private readonly healthChecks = new Set<string>();

  constructor(readonly o: SimAgentOptions) {}

  /** Opens the WebSocket and keeps it open. */
  connectWs() {
    if (this.stopped) return;
    const url = this.o.server.replace(/^http/, 'ws') + AGENT_PATHS.ws;
    const ws = new WebSocket(url, { headers: signRequest({ method: 'GET', path: AGENT_PATHS.ws, body: '', agentId: this.o.id }, this.o.privateKey), perMessageDeflate: false });
    this.ws = ws;
    this.reconnectIn = null;
    ws.on('open', () => {
      this.openedAt = performance.now();
      ws.send(JSON.stringify({ ...HELLO, maxJobs: this.o.maxJobs }));
    });
    // As the real agent does: what it has to say at one moment goes out in one frame.
    let outbox: string[] | null = null;
    const send = (m: unknown) => {
      if (!outbox) {
        outbox = [];
        setImmediate(() => {
          const frames = packFrames(outbox ?? []);
          outbox = null;
          if (ws.readyState === ws.OPEN) for (const frame of frames) ws.send(frame);
        });
      }
      outbox.push(JSON.stringify(m));
    };
    ws.on('message', (data: Buffer) => {
      for (const m of messagesOf(JSON.parse(data.toString()))) this.onMessage(m as ServerMessage, send);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code: number, reason: Buffer) => {
      this.connected = false;
      if (this.stopped) return;
      setTimeout(() => this.connectWs(), this.delayAfter(code, reason.toString())).unref();
    });
  }

  // What the real agent's connection loop waits before the next attempt.
  private delayAfter(code: number, reason: string): number {
    if (this.reconnectIn !== null) {
      this.backoff.reset();
      return this.reconnectIn;
    }
    const retryAfter = code === CLOSE_CODES.rateLimited ? /retry-after=(\d+)/.exec(reason)?.[1] : undefined;
    if (this.openedAt && performance.now() - this.openedAt >= DEFAULT_TIMINGS.healthyAfterMs) this.backoff.reset();
    this.openedAt = 0;
    return this.backoff.next(retryAfter ? Number(retryAfter) * 1000 : undefined);
  }

  /** Long-polls until stopped; job messages go by POST /messages. */
  async pollLoop() {
    let known: string | null = null;
    while (!this.stopped) {
      const res: { messages?: unknown[] } | null = await this.post(AGENT_PATHS.poll, { ...HELLO, maxJobs: this.o.maxJobs, knownStatus: known }).catch(() => null);
      if (!res || !res.messages) {
        await new Promise((r) => setTimeout(r, 500 * Math.random()));
        continue;
      }
      this.connected = true;
      const messages = res.messages as ServerMessage[];
      for (const m of messages) {
        const payload: { type: string; status?: string } | null = m.type === 'signed' ? JSON.parse(m.payload) : null;
        if (payload?.type === 'server.status') known = payload.status ?? null;
        // As the real agent does: job messages go out beside the next poll, not before it.
        void this.onPolledMessage(m).catch(() => undefined);
      }
    }
  }

  stop() {
    this.stopped = true;
    this.ws?.terminate();
  }

  private async onPolledMessage(m: ServerMessage) {
    const outbox: unknown[] = [];
    this.onMessage(m, (x) => outbox.push(x));
    while (outbox.length) {
      const res = await this.post(AGENT_PATHS.messages, { messages: outbox.splice(0) });
      for (const reply of (res?.messages ?? []) as ServerMessage[]) this.onMessage(reply, (x) => outbox.push(x));
    }
  }

  private onMessage(m: ServerMessage, send: (m: unknown) => void) {
    const at = performance.now();
    if (m.type === 'signed') {
      const payload = JSON.parse(m.payload) as { type: string; offers?: JobOfferPayload[] };
      if (payload.type === 'server.status') this.connected = true;
      const offers = payload.type === 'server.job.offer' ? [payload as JobOfferPayload] : payload.type === 'server.job.offers' ? payload.offers! : [];
      for (const offer of offers) {
        this.o.onOffer?.(offer, at);
        if (offer.kind === 'health-check') this.healthChecks.add(offer.jobId);
        send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: offer.attempt });
      }
    } else if (m.type === 'server.job.start') {
      this.o.onStart?.(m.jobId, at);
      // A health check finishes at once too, with a made-up healthy result; a script or a deployment step with none.
      const result = this.healthChecks.delete(m.jobId) ? healthyResult() : null;
      const finish = () =>
        send({ type: 'agent.job.finish', jobId: m.jobId, attempt: m.attempt, outcome: 'succeeded', exitCode: result ? null : 0, signal: null, message: null, logChunks: 0, result });
      if (this.o.jobMs) setTimeout(finish, this.o.jobMs).unref();
      else finish();
    } else if (m.type === 'server.job.finishAck') {
      this.o.onFinished?.();
    } else if (m.type === 'server.reconnect') {
      // As the real agent does: leave now, come back after a random part of the delay.
      this.reconnectIn = Math.floor(Math.random() * m.maxDelayMs);
      this.ws?.close();
    }
  }

  private async post(path: string, body: unknown): Promise<{ messages?: unknown[] } | null> {
    const text = JSON.stringify(body);
    const headers = { ...signRequest({ method: 'POST', path, body: text, agentId: this.o.id }, this.o.privateKey), 'content-type': 'application/json' };
    const res = await post(this.o.server + path, headers, text);
    if (res.status === 429 || res.status === 503) {
      await new Promise((r) => setTimeout(r, this.backoff.next(Number(res.headers['retry-after'] ?? 1) * 1000)));
      return null;
    }
    this.backoff.reset();
    return JSON.parse(res.text) as { messages?: unknown[] };
  }
}
