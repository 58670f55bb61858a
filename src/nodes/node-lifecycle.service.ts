import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/** How long a draining node gives its agents to move elsewhere. */
export const DRAIN_RECONNECT_MS = 10_000;

type NodePhase = 'draining' | 'stopping';

/**
 * This node's lifecycle as the code serving agents sees it. A platform operator may undrain a
 * draining node (it serves again; the agents it sent away come back as they reconnect); a
 * stopping one does not come back. Others read the flags and hear when a phase begins; only the
 * node's own code begins or ends one.
 */
@Injectable()
export class NodeLifecycle implements BeforeApplicationShutdown {
  private phases = { draining: false, stopping: false };
  private readonly listeners: Record<NodePhase, (() => void)[]> = { draining: [], stopping: [] };

  /** A draining node offers no new work and sends its agents elsewhere. */
  get draining(): boolean {
    return this.phases.draining;
  }

  /** Shutting down: agents still asking are sent away like a draining node's. */
  get stopping(): boolean {
    return this.phases.stopping;
  }

  /** Calls `listener` (at once, in order) when this node begins draining or stopping. */
  on(phase: NodePhase, listener: () => void) {
    this.listeners[phase].push(listener);
  }

  /** This node was asked to drain; false when it already was. */
  drain(): boolean {
    return this.begin('draining');
  }

  /** This node serves again (unless it is stopping); false when it was not draining. */
  undrain(): boolean {
    if (!this.phases.draining || this.phases.stopping) return false;
    this.phases = { ...this.phases, draining: false };
    return true;
  }

  /** This node is shutting down; false when it already was. */
  stop(): boolean {
    return this.begin('stopping');
  }

  // Before the sockets are torn down, so that agents still connected are sent away first.
  beforeApplicationShutdown() {
    this.stop();
  }

  private begin(phase: NodePhase): boolean {
    if (this.phases[phase]) return false;
    this.phases = { ...this.phases, [phase]: true };
    for (const listener of this.listeners[phase]) listener();
    return true;
  }
}
