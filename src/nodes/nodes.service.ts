import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { hostname } from 'node:os';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { AuditService } from '../audit/audit.service';
import type { Actor } from '../common/actor';
import { DomainException, NotFoundException } from '../common/domain.exception';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { NodeLifecycle } from './node-lifecycle.service';
import { NodesRepository } from './nodes.repository';

/**
 * This process as a member of the cluster: registered in `server_nodes`, beating while it
 * lives, draining when asked (through any node), and clearing the presence of dead nodes' agents.
 */
@Injectable()
export class NodesService implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly nodes: NodesRepository,
    private readonly lifecycle: NodeLifecycle,
    private readonly events: ClusterEventsService,
    private readonly audit: AuditService,
    private readonly logger: CorralLogger,
  ) {}

  get nodeId(): string {
    return this.events.nodeId;
  }

  async onModuleInit() {
    await this.nodes.register(this.nodeId, `${hostname()}:${this.config.port}`, process.pid);
    this.events.on('node-changed', ({ nodeId }: { nodeId: string }) => nodeId === this.nodeId && void this.beat());
    this.timer = setInterval(() => void this.beat(), this.config.nodeHeartbeatSeconds * 1000).unref();
  }

  async onApplicationShutdown() {
    clearInterval(this.timer);
    await this.nodes.markStopped(this.nodeId).catch(() => undefined);
  }

  async list(actor: Actor) {
    const rows = await this.nodes.list(actor.organizationId);
    return rows.map((n) => ({
      id: n.id,
      address: n.address,
      pid: n.pid,
      startedAt: n.startedAt,
      lastSeenAt: n.lastSeenAt,
      state: n.stoppedAt ? 'stopped' : n.secondsSilent > this.config.nodeDeadAfterSeconds ? 'dead' : 'alive',
      draining: n.draining,
      connectedAgents: n.connectedAgents,
      runningJobs: n.runningJobs,
      self: n.id === this.nodeId,
    }));
  }

  async drain(actor: Actor, id: string) {
    if (!(await this.nodes.exists(id))) throw new NotFoundException('node', id);
    if (!(await this.nodes.setDraining(id))) throw new DomainException('CONFLICT', `node "${id}" has stopped; there is nothing to drain`, 409);
    await this.audit.record(actor, 'node.drained', { type: 'node', id });
    await this.events.nodeChanged(id);
    return (await this.list(actor)).find((n) => n.id === id);
  }

  private async beat() {
    try {
      const draining = await this.nodes.heartbeat(this.nodeId, this.config.nodeDeadAfterSeconds);
      if (draining && !this.lifecycle.draining) {
        this.logger.event('warn', 'this node is draining: it takes no new work and sends its agents to other nodes', { nodeId: this.nodeId }, 'Nodes');
        this.lifecycle.drain();
      }
    } catch (err) {
      this.logger.event('warn', 'node heartbeat failed', { err: (err as Error).message }, 'Nodes');
    }
  }
}
