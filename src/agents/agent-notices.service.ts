import { Injectable } from '@nestjs/common';
import { CorralLogger } from '../common/logger';
import { PROTOCOL_VERSION, type SignedEnvelope } from '../protocol/messages';
import { AgentAuthService } from './agent-auth.service';
import { type Decided, decisionText, refusal } from './agent-decision';
import { ServerKeysService } from './server-keys.service';
import { SessionRegistry } from './session-registry.service';

/**
 * What the agents held here are told that is not work: their standing when it changes (and the
 * door, once revoked), the server's key set after a rotation, and "reconnect elsewhere" when
 * this node drains or stops. Long-polling agents are woken to ask, and hear it in their answer.
 */
@Injectable()
export class AgentNotices {
  constructor(
    private readonly registry: SessionRegistry,
    private readonly auth: AgentAuthService,
    private readonly serverKeys: ServerKeysService,
    private readonly logger: CorralLogger,
  ) {}

  /** The agent's status, signed, as it is told it on either transport. */
  statusMessage(agent: Decided): SignedEnvelope {
    return this.serverKeys.sign({ type: 'server.status', v: PROTOCOL_VERSION, agentId: agent.id, status: agent.status, reason: decisionText(agent), issuedAt: Date.now() });
  }

  /** The agent changed (somewhere in the cluster): its sessions here are told its standing, and closed when it may no longer connect. */
  async standingChanged(agentId: string) {
    this.registry.wake(agentId);
    const sessions = this.registry.socketsOf(agentId);
    if (!sessions?.size) return;
    const agent = await this.auth.standingOf(agentId).catch(() => undefined);
    if (agent === undefined) return;
    for (const session of sessions) {
      if (!agent) {
        session.close(4001, 'AGENT_UNKNOWN: this agent was deleted; enroll the host again');
        continue;
      }
      session.send(this.statusMessage(agent));
      if (agent.status === 'revoked' || agent.status === 'rejected') session.close(4003, refusal(agent));
    }
  }

  /** A rotation step: sign with the new active key, and give every agent here the new key set. */
  async keysChanged() {
    try {
      await this.serverKeys.reload();
    } catch (err) {
      return this.logger.event('error', 'cannot reload the server signing keys', { err: (err as Error).message }, 'AgentConnections');
    }
    for (const session of this.registry.allSockets()) {
      const keySet = this.serverKeys.keySetFor(session.agent.id, session.pinnedKeys);
      if (!keySet) continue;
      session.send(keySet);
      session.pinnedKeys = this.serverKeys.publicKeys().map((k) => k.keyId);
    }
    this.registry.wakeAll();
  }

  /** Asks every agent held here to reconnect (to any node) within `maxDelayMs`, spread at random. */
  sendAway(maxDelayMs: number) {
    for (const session of this.registry.allSockets()) {
      session.send({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs });
      session.sentAway();
    }
    this.registry.wakeAll();
  }

  /** Before the sockets are torn down: agents are told when to come back, spread over `spreadMs` so that a restarted node admits them as they arrive. */
  sendHome(spreadMs: number) {
    for (const session of this.registry.allSockets()) {
      session.send({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs: spreadMs });
      session.sentAway();
      session.close(1001, 'SERVER_SHUTDOWN: the control plane node is restarting; reconnect');
    }
    this.registry.wakeAll();
  }
}
