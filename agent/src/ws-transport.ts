import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { messagesOf, packFrames } from '../../src/protocol/frames';
import { signRequest } from '../../src/protocol/identity';
import { AGENT_PATHS, type AgentHello } from '../../src/protocol/messages';
import { AgentError, classifyClose, classifyHttpResponse, classifyNetworkError } from './errors';
import { pathUnder, USER_AGENT, type HttpClient, type Signer } from './http-client';
import type { Logger } from './log';
import { parseFrame } from './server-messages';
import type { SessionEnd, SessionHooks, Timings } from './session';

const MAX_FRAME_BYTES = 2 * 1024 * 1024;
const MAX_REFUSAL_BODY = 64 * 1024;

export interface WebSocketSessionParams {
  server: string;
  client: HttpClient;
  signer: Signer;
  hello: AgentHello;
  hooks: SessionHooks;
  timings: Timings;
  logger: Logger;
  signal: AbortSignal;
  now?: () => number;
}

/** ws:// for http servers, wss:// for https, on the same host, port and path prefix. */
export function webSocketUrl(server: string): URL {
  const url = new URL(pathUnder(server, AGENT_PATHS.ws), server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/**
 * One WebSocket connection, from the signed upgrade to its close. Resolves (never rejects)
 * with why it ended; the connection loop decides what happens next.
 */
export function runWebSocketSession(p: WebSocketSessionParams): Promise<SessionEnd> {
  const now = p.now ?? Date.now;
  const url = webSocketUrl(p.server);
  const path = url.pathname + url.search;
  const headers = { 'user-agent': USER_AGENT, ...signRequest({ method: 'GET', path, body: '', agentId: p.signer.agentId }, p.signer.privateKey) };

  return new Promise<SessionEnd>((resolve) => {
    if (p.signal.aborted) return resolve({ kind: 'stopped' });
    const ws = new WebSocket(url, {
      headers,
      agent: p.client.agentFor(url, 'websocket'),
      handshakeTimeout: p.timings.handshakeTimeoutMs,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      followRedirects: false,
    });
    let openedAt: number | null = null;
    let lastError: AgentError | null = null;
    let done = false;
    let idleTimer: NodeJS.Timeout | undefined;
    let pingTimer: NodeJS.Timeout | undefined;

    const connectedMs = () => (openedAt === null ? 0 : now() - openedAt);
    const failed = (error: AgentError, upgradeRefused = false): SessionEnd => ({ kind: 'failed', error, connectedMs: connectedMs(), beforeOpen: openedAt === null, upgradeRefused });

    const finish = (end: SessionEnd) => {
      if (done) return;
      done = true;
      clearTimeout(idleTimer);
      clearInterval(pingTimer);
      p.signal.removeEventListener('abort', onAbort);
      resolve(end);
    };

    // Half-open detection: the server pings every ~20 s, so a minute of silence means the
    // connection is gone even if the kernel has not noticed.
    const touch = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        ws.terminate();
        finish(failed(new AgentError('NETWORK', `nothing received for ${Math.round(p.timings.idleTimeoutMs / 1000)} s; the connection is presumed dead`, 'retryable')));
      }, p.timings.idleTimeoutMs);
    };

    const onAbort = () => {
      if (ws.readyState !== WebSocket.OPEN) {
        ws.terminate();
        return finish({ kind: 'stopped' });
      }
      // A clean close, but never wait long for a peer that may be gone.
      const grace = setTimeout(() => ws.terminate(), p.timings.closeGraceMs);
      ws.once('close', () => {
        clearTimeout(grace);
        finish({ kind: 'stopped' });
      });
      ws.close(1000, 'agent stopping');
      clearTimeout(idleTimer);
      clearInterval(pingTimer);
    };
    p.signal.addEventListener('abort', onAbort, { once: true });

    ws.on('unexpected-response', (req: ClientRequest, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const settle = () => {
        const text = Buffer.concat(chunks).toString('utf8');
        req.destroy();
        finish(failed(classifyHttpResponse(res.statusCode ?? 0, res.headers, text, 'the WebSocket upgrade'), true));
      };
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_REFUSAL_BODY) chunks.push(chunk);
        else settle();
      });
      res.on('end', settle);
      res.on('error', settle);
    });

    ws.on('open', () => {
      openedAt = now();
      touch();
      ws.send(JSON.stringify(p.hello));
      pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.ping();
      }, p.timings.pingIntervalMs);
      // What the job manager sends at one moment goes out together, in as few frames as fit.
      let outbox: string[] | null = null;
      const flush = () => {
        const messages = outbox ?? [];
        outbox = null;
        if (!done && ws.readyState === WebSocket.OPEN) for (const frame of packFrames(messages)) ws.send(frame);
      };
      p.hooks.connected('websocket', p.server, {
        send: (messages) => {
          if (done || ws.readyState !== WebSocket.OPEN) return false;
          if (!outbox) {
            outbox = [];
            setImmediate(flush);
          }
          for (const message of messages) outbox.push(JSON.stringify(message));
          return true;
        },
      });
    });

    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      touch();
      if (done) return;
      if (isBinary) {
        p.logger.warn(`ignored a binary frame from ${p.server}`);
        return;
      }
      for (const message of messagesOf(parseFrame(data.toString()))) {
        const end = p.hooks.message(message, p.server);
        if (end) {
          ws.close(1000, end.kind === 'fatal' ? 'agent stopping' : 'reconnecting');
          return finish(end);
        }
      }
    });
    ws.on('ping', touch);
    ws.on('pong', touch);

    ws.on('error', (err: Error) => {
      lastError = classifyNetworkError(err, url.origin);
      // Before the upgrade completes, ws may not emit 'close' for every failure path.
      if (openedAt === null) finish(failed(lastError));
    });

    ws.on('close', (code: number, reason: Buffer) => {
      if (p.signal.aborted) return finish({ kind: 'stopped' });
      if (code === 1006 && lastError) return finish(failed(lastError));
      finish(failed(classifyClose(code, reason.toString('utf8'))));
    });
  });
}
