import { Injectable } from '@nestjs/common';
import type { Transport } from '../protocol/messages';
import type { AgentSession } from './agent-session';

/** How long a long-polling agent counts as connected here after its last poll. */
export const POLLER_PRESENT_MS = 35_000;

/** What a long-polling agent has not heard of since its last poll. */
export interface PollNews {
  work: boolean;
  cancels: boolean;
}

/** A long-polling agent on this node: when it last polled, what it has missed since, and its polls waiting now. */
interface PollSession {
  polledAt?: number;
  news?: PollNews;
  readonly waiters: Set<() => void>;
}

/**
 * The agents this node holds, by agent: their WebSocket sessions (an agent reconnecting may hold
 * two for a moment; the latest is the one that counts) and their long-poll sessions. Nothing here
 * is needed by another node.
 */
@Injectable()
export class SessionRegistry {
  private readonly sockets = new Map<string, Set<AgentSession>>();
  private readonly polls = new Map<string, PollSession>();

  addSocket(session: AgentSession) {
    const agentId = session.agent.id;
    const set = this.sockets.get(agentId) ?? new Set();
    set.add(session);
    this.sockets.set(agentId, set);
  }

  /** Forgets a session whose socket closed; true when the agent has no other WebSocket here. */
  removeSocket(session: AgentSession): boolean {
    const agentId = session.agent.id;
    const set = this.sockets.get(agentId);
    set?.delete(session);
    if (set && set.size === 0) this.sockets.delete(agentId);
    return !this.sockets.has(agentId);
  }

  /** The agent's most recent WebSocket session here, whatever its state. */
  latestSocket(agentId: string): AgentSession | undefined {
    return [...(this.sockets.get(agentId) ?? [])].at(-1);
  }

  /** The agent's WebSocket sessions here, as they are now and as they change. */
  socketsOf(agentId: string): ReadonlySet<AgentSession> | undefined {
    return this.sockets.get(agentId);
  }

  *allSockets(): Iterable<AgentSession> {
    for (const set of this.sockets.values()) yield* set;
  }

  /** Whether this node holds a WebSocket of the agent. */
  holdsSocket(agentId: string): boolean {
    return this.sockets.has(agentId);
  }

  /** Whether this node holds the agent now: a WebSocket, or a poll waiting. */
  holds(agentId: string): boolean {
    return this.sockets.has(agentId) || Boolean(this.polls.get(agentId)?.waiters.size);
  }

  /** Whether the agent has polled here and was not forgotten since. */
  polledHere(agentId: string): boolean {
    return this.polls.get(agentId)?.polledAt !== undefined;
  }

  /** Whether this long-poll continues a session this node already serves (not a new connection). */
  isPolling(agentId: string): boolean {
    const at = this.polls.get(agentId)?.polledAt;
    return at !== undefined && Date.now() - at < POLLER_PRESENT_MS;
  }

  heldAgentIds(): string[] {
    return [...new Set([...this.sockets.keys(), ...this.polls.keys()])];
  }

  /** Agents on a WebSocket here, and agents long-polling here without one. */
  countByTransport(): Record<Transport, number> {
    let polling = 0;
    for (const [id, poll] of this.polls) if (poll.polledAt !== undefined && !this.sockets.has(id)) polling++;
    return { websocket: this.sockets.size, 'long-poll': polling };
  }

  /** An authenticated long-poll: the agent counts as connected here (presence) for a while. */
  markPolling(agentId: string) {
    this.pollOf(agentId).polledAt = Date.now();
  }

  /** Something was announced for a long-polling agent: its next poll looks for it. */
  addNews(agentId: string, cancels: boolean) {
    const poll = this.polls.get(agentId);
    if (poll?.polledAt === undefined) return;
    const news = (poll.news ??= { work: false, cancels: false });
    news.work = true;
    news.cancels ||= cancels;
  }

  /** What the agent has not heard of since its last poll; it counts as heard now. */
  takeNews(agentId: string): PollNews | undefined {
    const poll = this.polls.get(agentId);
    const news = poll?.news;
    if (poll) poll.news = undefined;
    return news;
  }

  /** Resolves when the agent is woken (it changed, work arrived for it) or after `ms`, whichever first; `signal` ends it early. */
  waitForChange(agentId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const poll = this.pollOf(agentId);
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        poll.waiters.delete(done);
        this.dropIfIdle(agentId, poll);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      poll.waiters.add(done);
    });
  }

  /** Ends the agent's waiting polls: they look again. */
  wake(agentId: string) {
    const poll = this.polls.get(agentId);
    if (poll) for (const done of [...poll.waiters]) done();
  }

  wakeAll() {
    for (const poll of [...this.polls.values()]) for (const done of [...poll.waiters]) done();
  }

  /** Forgets the long-polling agents that stopped asking; returns those of them with no WebSocket here either (they left this node). */
  forgetPollers(): string[] {
    const now = Date.now();
    const gone: string[] = [];
    for (const [id, poll] of this.polls)
      if (poll.polledAt !== undefined && now - poll.polledAt > POLLER_PRESENT_MS) {
        poll.polledAt = undefined;
        poll.news = undefined;
        this.dropIfIdle(id, poll);
        if (!this.sockets.has(id)) gone.push(id);
      }
    return gone;
  }

  private pollOf(agentId: string): PollSession {
    let poll = this.polls.get(agentId);
    if (!poll) this.polls.set(agentId, (poll = { waiters: new Set() }));
    return poll;
  }

  // A poll session lives while the agent counts as polling here or has a poll waiting.
  private dropIfIdle(agentId: string, poll: PollSession) {
    if (poll.polledAt === undefined && poll.waiters.size === 0 && this.polls.get(agentId) === poll) this.polls.delete(agentId);
  }
}
