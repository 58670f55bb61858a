import { Injectable } from '@nestjs/common';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { CorralLogger } from '../common/logger';
import { Batcher } from '../database/batcher';
import type { Transport } from '../protocol/messages';
import { type AgentStanding, type Connected, AgentsRepository, type HostFacts } from './agents.repository';

/**
 * Where each agent is connected, as PostgreSQL has it. Presence is written when an agent comes
 * and when it goes, never while it stays: an agent is connected while the node it is connected to
 * lives (nodes beat, and the others release a dead node's agents), so a connected idle agent
 * costs the database nothing.
 */
@Injectable()
export class AgentPresence {
  // Presence is written in batches; leaving can wait a moment for company.
  private readonly connects = new Batcher<Connected, AgentStanding | null>((rows) => this.connectBatch(rows), { maxBatch: 1000, concurrency: 2 });
  private readonly disconnects = new Batcher<string, void>((ids) => this.disconnectBatch(ids), { maxBatch: 1000, concurrency: 1, lingerMs: 50 });

  constructor(
    private readonly agents: AgentsRepository,
    private readonly events: ClusterEventsService,
    private readonly logger: CorralLogger,
  ) {}

  /** Records the agent as connected here; its standing as of that moment, or null when it was deleted. */
  async markConnected(agentId: string, transport: Transport, facts: HostFacts): Promise<AgentStanding | null> {
    const standing = await this.connects.submit({ id: agentId, nodeId: this.events.nodeId, transport, ...facts });
    if (standing) {
      const fields = { agentId, name: standing.name, organizationId: standing.organizationId, status: standing.status, transport, hostname: facts.hostname, agentVersion: facts.agentVersion };
      this.logger.event('info', 'agent connected', fields, 'AgentConnections');
    }
    return standing;
  }

  /** The agent's connection here ended (and no other of it is held here). */
  markDisconnected(agentId: string) {
    this.logger.event('info', 'agent disconnected', { agentId }, 'AgentConnections');
    void this.disconnects.submit(agentId).catch((err: Error) => this.logger.event('warn', 'presence update failed', { err: err.message }, 'AgentConnections'));
  }

  /** This node is going: none of its agents is connected here any more, in one statement. */
  async clearNode(): Promise<void> {
    await this.agents.clearNodeConnections(this.events.nodeId).catch(() => undefined);
  }

  private async connectBatch(rows: Connected[]): Promise<(AgentStanding | null)[]> {
    const fresh = new Map((await this.agents.markConnectedMany(rows)).map((a) => [a.id, a]));
    return rows.map((r) => fresh.get(r.id) ?? null);
  }

  private async disconnectBatch(ids: string[]): Promise<void[]> {
    await this.agents.markDisconnected([...new Set(ids)], this.events.nodeId);
    return ids.map(() => undefined);
  }
}
