import { z } from 'zod';
import { AGENT_PATHS, PollRequestSchema, PollResponseSchema, type AgentHello, type AgentSessionMessage } from '../../src/protocol/messages';
import { Backoff, sleep } from './backoff';
import { AgentError, classifyHttpResponse, classifyNetworkError } from './errors';
import type { HttpClient, Signer } from './http-client';
import type { JobLink } from './jobs/job-manager';
import type { Logger } from './log';
import type { SessionEnd, SessionHooks, Timings } from './session';

// Each message is checked on its own (verified, then parsed), so one the agent does not know
// yet cannot hide the others in the same answer.
const PollEnvelopeSchema = PollResponseSchema.extend({ messages: z.array(z.unknown()) });
// The answer to POST /messages: only the replies matter.
const MessagesAnswerSchema = z.object({ messages: z.array(z.unknown()) });

/** Most messages in one POST /messages (the protocol's limit). */
const MAX_MESSAGES_PER_POST = 200;
/** A POST carries at most about this much JSON (one message always fits), to stay under request-size limits. */
const MAX_POST_BYTES = 256 * 1024;
/** A batch the server keeps failing on (network, 5xx) ends the session after this many tries. */
const MAX_POST_ATTEMPTS = 3;

export interface PollSessionParams {
  server: string;
  client: HttpClient;
  signer: Signer;
  hello: AgentHello;
  hooks: SessionHooks;
  timings: Timings;
  signal: AbortSignal;
  logger: Logger;
  /** Asked between polls: true hands control back so WebSocket can be tried again. */
  shouldYield: () => boolean;
  random?: () => number;
  now?: () => number;
}

/**
 * Job messages (and policy changes) of a long-polling agent: queued, sent in order by POST /api/agent/v1/messages
 * (one request at a time, so replies arrive in order too), while a poll may be held on
 * another connection. The replies go through the same handling as WebSocket frames.
 */
class MessagePoster implements JobLink {
  private queue: AgentSessionMessage[] = [];
  private busy = false;
  private closed = false;
  private readonly backoff: Backoff;

  constructor(
    private readonly p: PollSessionParams,
    private readonly signal: AbortSignal,
    private readonly reply: (raw: unknown) => boolean, // false: the session ended
    private readonly end: (end: SessionEnd) => void,
  ) {
    this.backoff = new Backoff(p.timings.backoff, p.random);
  }

  send(messages: AgentSessionMessage[]): boolean {
    if (this.closed) return false;
    this.queue.push(...messages);
    void this.flush();
    return true;
  }

  close() {
    this.closed = true;
    this.queue = [];
  }

  private takeBatch(): AgentSessionMessage[] {
    const batch: AgentSessionMessage[] = [];
    let bytes = 0;
    while (this.queue.length && batch.length < MAX_MESSAGES_PER_POST) {
      const size = JSON.stringify(this.queue[0]).length;
      if (batch.length && bytes + size > MAX_POST_BYTES) break;
      batch.push(this.queue.shift() as AgentSessionMessage);
      bytes += size;
    }
    return batch;
  }

  private async flush() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length && !this.closed) {
        const batch = this.takeBatch();
        if (!(await this.post(batch))) return;
      }
    } finally {
      this.busy = false;
    }
  }

  /** Sends one batch, retrying what may succeed later; false when the session is over. */
  private async post(batch: AgentSessionMessage[]): Promise<boolean> {
    const { p } = this;
    const body = JSON.stringify({ messages: batch });
    for (let attempt = 1; ; attempt++) {
      let error: AgentError;
      try {
        const res = await p.client.request(p.server, { method: 'POST', path: AGENT_PATHS.messages, body, signer: p.signer, timeoutMs: p.timings.messagesTimeoutMs, signal: this.signal });
        if (this.closed) return false;
        if (res.status === 200) {
          let parsed;
          try {
            parsed = MessagesAnswerSchema.safeParse(JSON.parse(res.text));
          } catch {
            parsed = null;
          }
          this.backoff.reset();
          if (!parsed?.success) {
            p.logger.warn(`${p.server} answered job messages with something that is not a message list; ignored`);
            return true;
          }
          for (const message of parsed.data.messages) if (!this.reply(message)) return false;
          return true;
        }
        error = classifyHttpResponse(res.status, res.headers, res.text, 'sending job messages');
        if (error.fatal) {
          this.end({ kind: 'fatal', error });
          return false;
        }
        const status = error.details.status ?? 0;
        if (status >= 400 && status < 500 && status !== 408 && status !== 429 && error.code !== 'CLOCK_SKEW' && error.code !== 'REPLAYED_REQUEST') {
          // The server will never take this batch as it is; what matters in it is sent again later.
          p.logger.warn(`${p.server} refused ${batch.length} job message(s): ${error.message}`);
          return true;
        }
      } catch (err) {
        if (this.closed || this.signal.aborted) return false;
        error = classifyNetworkError(err, p.server);
      }
      if (attempt >= MAX_POST_ATTEMPTS) {
        this.end({
          kind: 'failed',
          error: new AgentError(error.code, `cannot send job messages: ${error.message}`, 'retryable', error.details),
          connectedMs: 0,
          beforeOpen: false,
          upgradeRefused: false,
        });
        return false;
      }
      await sleep(this.backoff.next(error.retryAfterMs), this.signal);
      if (this.closed || this.signal.aborted) return false;
    }
  }
}

/**
 * A run of long-polls against one server, until one fails, the server says stop, or the loop
 * asks for WebSocket back. Resolves (never rejects) with why it ended.
 */
export async function runPollSession(p: PollSessionParams): Promise<SessionEnd> {
  const now = p.now ?? Date.now;
  // Paces a server that answers at once without news, so a bad answer cannot become a busy loop.
  const pacing = new Backoff(p.timings.backoff, p.random);
  let connectedAt: number | null = null;
  const failed = (error: AgentError): SessionEnd => ({
    kind: 'failed',
    error,
    connectedMs: connectedAt === null ? 0 : now() - connectedAt,
    beforeOpen: connectedAt === null,
    upgradeRefused: false,
  });

  // The session can also end from the side (a reply to job messages, a failing POST): that
  // aborts the poll in flight.
  const inner = new AbortController();
  const onAbort = () => inner.abort();
  p.signal.addEventListener('abort', onAbort, { once: true });
  let ended: SessionEnd | null = null;
  const endFromSide = (end: SessionEnd) => {
    if (ended) return;
    ended = end.kind === 'failed' ? { ...end, connectedMs: connectedAt === null ? 0 : now() - connectedAt } : end;
    inner.abort();
  };
  const poster = new MessagePoster(
    p,
    inner.signal,
    (raw) => {
      if (ended) return false;
      const end = p.hooks.message(raw, p.server);
      if (end) endFromSide(end);
      return !end;
    },
    endFromSide,
  );
  const stoppedOr = (): SessionEnd => ended ?? { kind: 'stopped' };
  // Answers that come back at once with messages are news; a long run of them still gets paced.
  let quickNews = 0;

  try {
    for (;;) {
      if (inner.signal.aborted) return stoppedOr();
      if (p.shouldYield()) return { kind: 'yield' };

      const known = p.hooks.knownStatus();
      const body = JSON.stringify(PollRequestSchema.parse({ ...p.hello, knownStatus: known }));
      const startedAt = now();
      let res;
      try {
        res = await p.client.request(p.server, { method: 'POST', path: AGENT_PATHS.poll, body, signer: p.signer, timeoutMs: p.timings.pollTimeoutMs, signal: inner.signal });
      } catch (err) {
        if (inner.signal.aborted) return stoppedOr();
        return failed(classifyNetworkError(err, p.server));
      }
      if (res.status !== 200) return failed(classifyHttpResponse(res.status, res.headers, res.text, 'the long-poll'));

      let parsed;
      try {
        parsed = PollEnvelopeSchema.safeParse(JSON.parse(res.text));
      } catch {
        parsed = null;
      }
      if (!parsed?.success) return failed(new AgentError('PROTOCOL_ERROR', `${p.server} answered the long-poll with something that is not a poll response`, 'retryable'));

      if (connectedAt === null) {
        connectedAt = now();
        p.hooks.connected('long-poll', p.server, poster);
      }
      for (const message of parsed.data.messages) {
        const end = p.hooks.message(message, p.server);
        if (end) return end;
      }
      if (ended) return ended;

      const quick = now() - startedAt < p.timings.minPollMs;
      const changed = p.hooks.knownStatus() !== known;
      quickNews = quick && parsed.data.messages.length > 0 ? quickNews + 1 : 0;
      if (quick && !changed && (parsed.data.messages.length === 0 || quickNews > 5)) await sleep(pacing.next(), inner.signal);
      else pacing.reset();
    }
  } finally {
    poster.close();
    p.signal.removeEventListener('abort', onAbort);
  }
}
