import type { LocalPolicy, ServerMessage, Transport } from '../protocol/messages';
import type { Agent } from './agent.entity';

/** What the task engine needs to know of the agent it talks to. */
export type ConnectedAgent = Pick<Agent, 'id' | 'name' | 'organizationId'>;

/** One live agent connection held by this node, as the task engine offers work on it. */
export interface AgentConnection {
  readonly transport: Transport;
  /** How many jobs the agent runs at once, from its hello. */
  readonly maxJobs: number;
  /** The agent on the other end, as it authenticated. */
  readonly agent?: ConnectedAgent;
  /** The host's local policy, as the agent reported it in its hello. */
  readonly policy?: LocalPolicy | null;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

/**
 * Where an agent's WebSocket session on this node stands:
 * - `connecting`: the upgrade was authenticated; the hello is awaited.
 * - `hello-received`: the agent said who it is and was told its standing; not approved, it takes no work.
 * - `approved`: told it is approved; it takes offers.
 * - `draining`: approved, and sent elsewhere by this draining node; it keeps its cancellations and
 *   the replies about the jobs it runs until it leaves, and the delivery loop claims nothing new for it.
 * - `closed`: the socket is gone; anything still arriving for the session is dropped.
 */
export type SessionState = 'connecting' | 'hello-received' | 'approved' | 'draining' | 'closed';

export const SESSION_TRANSITIONS: Record<SessionState, readonly SessionState[]> = {
  connecting: ['hello-received', 'closed'],
  // A later hello on the same socket re-reads the standing: it may find the agent no longer approved.
  'hello-received': ['approved', 'draining', 'closed'],
  approved: ['hello-received', 'draining', 'closed'],
  draining: ['hello-received', 'closed'],
  closed: [],
};

// As before sessions had states, a task submitted through a draining node is still offered at once
// to an approved agent on it that has not left yet (TaskQueue.submit); the delivery loop offers it nothing.
const TAKES_OFFERS: readonly SessionState[] = ['approved', 'draining'];

/** Whether a session may move from one state to the other (staying where it is always may). */
export function canMove(from: SessionState, to: SessionState): boolean {
  return from === to ? from !== 'closed' : SESSION_TRANSITIONS[from].includes(to);
}

/**
 * One agent's WebSocket session on this node: what it said in its hello and how far it got. The
 * transport (the gateway's socket) extends it, so that an idle session costs one object.
 */
export abstract class AgentSession implements AgentConnection {
  abstract readonly transport: Transport;
  abstract readonly agent: ConnectedAgent;
  private current: SessionState = 'connecting';
  maxJobs = 1;
  /** The server key ids the agent trusts, from its hello (and every key set sent since). */
  pinnedKeys?: string[];
  policy: LocalPolicy | null = null;

  abstract send(message: ServerMessage): void;
  abstract close(code: number, reason: string): void;

  get state(): SessionState {
    return this.current;
  }

  /** The task engine may offer work on this session directly. */
  get takesOffers(): boolean {
    return TAKES_OFFERS.includes(this.current);
  }

  /** Moves to `next` when the transitions allow it; a move that lost a race (the socket closed meanwhile) returns false and changes nothing. */
  moveTo(next: SessionState): boolean {
    if (!canMove(this.current, next)) return false;
    this.current = next;
    return true;
  }

  /** The hello arrived: what the agent says about itself. */
  heardHello(hello: { maxJobs: number; pinnedKeys?: string[]; policy?: LocalPolicy | null }) {
    this.maxJobs = hello.maxJobs;
    this.pinnedKeys = hello.pinnedKeys;
    this.policy = hello.policy ?? null;
    if (this.current === 'connecting') this.moveTo('hello-received');
  }

  /** The agent was told its standing here: an approved one takes offers, unless this node is sending its agents away. */
  toldStanding(approved: boolean, nodeDraining: boolean): boolean {
    return this.moveTo(!approved ? 'hello-received' : nodeDraining ? 'draining' : 'approved');
  }

  /** This node asked the agent to reconnect elsewhere. */
  sentAway() {
    if (this.current === 'approved') this.moveTo('draining');
  }

  /** The socket is gone. */
  closed() {
    this.moveTo('closed');
  }
}
