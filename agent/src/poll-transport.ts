import { z } from 'zod';
import { AGENT_PATHS, PollRequestSchema, PollResponseSchema, type AgentHello } from '../../src/protocol/messages';
import { Backoff, sleep } from './backoff';
import { AgentError, classifyHttpResponse, classifyNetworkError } from './errors';
import type { HttpClient, Signer } from './http-client';
import type { SessionEnd, SessionHooks, Timings } from './session';

// Each message is checked on its own (verified, then parsed), so one the agent does not know
// yet cannot hide the others in the same answer.
const PollEnvelopeSchema = PollResponseSchema.extend({ messages: z.array(z.unknown()) });

export interface PollSessionParams {
  server: string;
  client: HttpClient;
  signer: Signer;
  hello: AgentHello;
  hooks: SessionHooks;
  timings: Timings;
  signal: AbortSignal;
  /** Asked between polls: true hands control back so WebSocket can be tried again. */
  shouldYield: () => boolean;
  random?: () => number;
  now?: () => number;
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
  const failed = (error: AgentError): SessionEnd => ({ kind: 'failed', error, connectedMs: connectedAt === null ? 0 : now() - connectedAt, beforeOpen: connectedAt === null, upgradeRefused: false });

  for (;;) {
    if (p.signal.aborted) return { kind: 'stopped' };
    if (p.shouldYield()) return { kind: 'yield' };

    const known = p.hooks.knownStatus();
    const body = JSON.stringify(PollRequestSchema.parse({ ...p.hello, knownStatus: known }));
    const startedAt = now();
    let res;
    try {
      res = await p.client.request(p.server, { method: 'POST', path: AGENT_PATHS.poll, body, signer: p.signer, timeoutMs: p.timings.pollTimeoutMs, signal: p.signal });
    } catch (err) {
      if (p.signal.aborted) return { kind: 'stopped' };
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
      p.hooks.connected('long-poll', p.server);
    }
    for (const message of parsed.data.messages) {
      const end = p.hooks.message(message, p.server);
      if (end) return end;
    }

    const changed = p.hooks.knownStatus() !== known;
    if (!changed && now() - startedAt < p.timings.minPollMs) await sleep(pacing.next(), p.signal);
    else pacing.reset();
  }
}
