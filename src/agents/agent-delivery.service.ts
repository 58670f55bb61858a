import { Injectable } from '@nestjs/common';
import { CorralLogger } from '../common/logger';
import { NodeLifecycle } from '../nodes/node-lifecycle.service';
import type { AgentJobMessage, ServerMessage } from '../protocol/messages';
import type { ConnectedAgent } from './agent-session';
import { SessionRegistry } from './session-registry.service';

/** The work side of an agent connection, provided by the task engine. */
export interface AgentWork {
  /** What the agent should be sent now: offers it has room for (claimed here) and cancellations. */
  pending(agent: ConnectedAgent, maxJobs: number, options: { claim: boolean; cancels: boolean }): Promise<ServerMessage[]>;
  /** Whether an agent's last claim here may have left work waiting for it (it took all the room it had). */
  mayHaveWork(agentId: string): boolean;
  /** Acts on job messages from the agent, in order; returns the replies. */
  handle(agent: ConnectedAgent, messages: AgentJobMessage[]): Promise<ServerMessage[]>;
}

/**
 * Brings the agents held here their work: claims and cancellations pushed down a WebSocket, or a
 * long-poll woken to ask for them itself. One delivery per agent at a time; a wake-up during one
 * runs it once more after.
 */
@Injectable()
export class AgentDelivery {
  private work: AgentWork | undefined;
  private readonly delivering = new Map<string, { again: boolean; cancels: boolean }>();

  constructor(
    private readonly registry: SessionRegistry,
    private readonly lifecycle: NodeLifecycle,
    private readonly logger: CorralLogger,
  ) {}

  attachWork(work: AgentWork) {
    this.work = work;
  }

  get workAttached(): AgentWork {
    if (!this.work) throw new Error('no task engine attached to agent connections');
    return this.work;
  }

  /** Work (or, with `cancels`, a cancellation) was announced for these agents: those held here get it now. */
  workAnnounced(agentIds: Iterable<string>, cancels = false) {
    for (const id of agentIds) if (this.registry.holds(id) || this.registry.polledHere(id)) this.deliver(id, cancels);
  }

  /**
   * What a long-poll should look for: at the start of a session everything; after that, work
   * when some was announced or may still wait, and cancellations when one was announced.
   */
  takePollNews(agentId: string, continuing: boolean): { claim: boolean; cancels: boolean } {
    const news = this.registry.takeNews(agentId);
    if (!continuing) return { claim: true, cancels: true };
    return { claim: Boolean(news?.work) || this.workAttached.mayHaveWork(agentId), cancels: Boolean(news?.cancels) };
  }

  /** Sends a WebSocket agent what is waiting for it, or wakes its long-poll (which then asks itself). */
  deliver(agentId: string, cancels = false) {
    this.registry.addNews(agentId, cancels);
    this.registry.wake(agentId);
    const work = this.work;
    if (!this.registry.holdsSocket(agentId) || !work) return;
    const running = this.delivering.get(agentId);
    if (running) {
      running.again = true;
      running.cancels ||= cancels;
      return;
    }
    const state = { again: true, cancels };
    this.delivering.set(agentId, state);
    void (async () => {
      try {
        while (state.again) {
          state.again = false;
          const session = this.registry.latestSocket(agentId);
          if (!session) break;
          // A draining node claims nothing new; cancellations still go out.
          const messages = await work.pending(session.agent, session.maxJobs, { claim: !this.lifecycle.draining, cancels: state.cancels });
          state.cancels = false;
          for (const m of messages) session.send(m);
        }
      } catch (err) {
        this.logger.event('warn', 'delivering work to an agent failed; the periodic re-check will retry', { agentId, err: (err as Error).message }, 'AgentConnections');
      } finally {
        this.delivering.delete(agentId);
      }
    })();
  }
}
