import type { AgentStatus, Transport } from '../../src/protocol/messages';
import { LONG_POLL_HOLD_MS } from '../../src/protocol/messages';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import type { AgentError } from './errors';
import type { JobLink } from './jobs/job-manager';

/** Why one connection (a WebSocket, or a run of long-polls) ended. */
export type SessionEnd =
  | { kind: 'stopped' } // shutdown was requested
  | { kind: 'fatal'; error: AgentError } // the agent must stop (revoked, rejected, ...)
  | { kind: 'reconnect'; delayMs: number } // the server asked the agent to come back later
  | { kind: 'yield' } // long-poll steps aside so WebSocket can be tried again
  | {
      kind: 'failed';
      error: AgentError;
      connectedMs: number; // how long the connection was up (0 when it never was)
      beforeOpen: boolean; // failed before the server accepted the connection
      upgradeRefused: boolean; // an HTTP answer other than 101 to the WebSocket upgrade
    };

/** What a transport reports back to the connection loop, which alone decides what it means. */
export interface SessionHooks {
  /** The server accepted the connection; `link` carries job messages to it until the session ends. */
  connected(transport: Transport, server: string, link: JobLink): void;
  /** One message from the server; returning an end closes the session. */
  message(raw: unknown, server: string): SessionEnd | null;
  /** The approval status the agent last verified (the long-poll's knownStatus). */
  knownStatus(): AgentStatus | null;
}

export interface Timings {
  pingIntervalMs: number; // the agent pings the server this often
  idleTimeoutMs: number; // nothing received for this long: the connection is dead
  handshakeTimeoutMs: number;
  pollTimeoutMs: number; // a long-poll answer later than this is a dead connection
  minPollMs: number; // an answer faster than this that changed nothing slows the next poll
  wsRetryIntervalMs: number; // while on long-poll, WebSocket is tried again this often
  healthyAfterMs: number; // a connection up this long resets the backoff
  closeGraceMs: number; // wait this long for the close handshake on shutdown
  messagesTimeoutMs: number; // long-poll: a POST /messages answer later than this failed
  backoff: BackoffOptions;
}

export const DEFAULT_TIMINGS: Timings = {
  pingIntervalMs: 25_000,
  idleTimeoutMs: 60_000,
  handshakeTimeoutMs: 15_000,
  pollTimeoutMs: LONG_POLL_HOLD_MS + 20_000,
  minPollMs: 1_000,
  wsRetryIntervalMs: 5 * 60_000,
  healthyAfterMs: 30_000,
  closeGraceMs: 2_000,
  messagesTimeoutMs: 30_000,
  backoff: DEFAULT_BACKOFF,
};
