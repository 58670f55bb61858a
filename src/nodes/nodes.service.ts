import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
export class NodesService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  /** Peers this node has already said are presumed dead. */
  private silentPeers = new Set<string>();

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly nodes: NodesRepository,
    private readonly lifecycle: NodeLifecycle,
    private readonly events: ClusterEventsService,
    private readonly audit: AuditService,
    private readonly logger: CorralLogger,
    private readonly http: HttpAdapterHost,
  ) {}

  get nodeId(): string {
    return this.events.nodeId;
  }

  async onModuleInit() {
    await this.nodes.register(this.nodeId, `${hostname()}:${this.config.port}`, process.pid);
    this.events.on('node-changed', ({ nodeId }: { nodeId: string }) => nodeId === this.nodeId && void this.beat());
    this.timer = setInterval(() => void this.beat(), this.config.nodeHeartbeatSeconds * 1000).unref();
  }

  /** With PORT=0 the port is known only once the server listens: the registry shows the real one. */
  onApplicationBootstrap() {
    const server = this.http.httpAdapter?.getHttpServer() as Server | undefined;
    server?.once('listening', () => {
      const { port } = server.address() as AddressInfo;
      if (port !== this.config.port) void this.nodes.setAddress(this.nodeId, `${hostname()}:${port}`).catch(() => undefined);
    });
  }

  async onApplicationShutdown() {
    clearInterval(this.timer);
    await this.nodes.markStopped(this.nodeId).catch(() => undefined);
  }

  /** Every node, with the actor's organisation's agents and jobs on each (every organisation's, for null: an operator's totals). */
  async list(actor: Actor | null) {
    const rows = await this.nodes.list(actor?.organizationId ?? null);
    return rows.map((n) => ({
      id: n.id,
      address: n.address,
      pid: n.pid,
      startedAt: n.startedAt,
      lastSeenAt: n.lastSeenAt,
      state: n.stoppedAt ? ('stopped' as const) : n.secondsSilent > this.config.nodeDeadAfterSeconds ? ('dead' as const) : ('alive' as const),
      draining: n.draining,
      connectedAgents: n.connectedAgents,
      runningJobs: n.runningJobs,
      self: n.id === this.nodeId,
    }));
  }

  /** Drains (or, `draining` false, undrains) a node through any node: the node itself follows at its next heartbeat, told at once. */
  async setDraining(actor: Actor, id: string, draining: boolean) {
    if (!(await this.nodes.exists(id))) throw new NotFoundException('node', id);
    if (!(await this.nodes.setDraining(id, draining))) throw new DomainException('CONFLICT', `node "${id}" has stopped; there is nothing to ${draining ? 'drain' : 'undrain'}`, 409);
    await this.audit.record(actor, draining ? 'node.drained' : 'node.undrained', { type: 'node', id });
    await this.events.nodeChanged(id);
    return (await this.list(actor)).find((n) => n.id === id);
  }

  /** Every node with every organisation's connected agents and running jobs on it: a platform operator's view. */
  async cluster() {
    const [nodes, work] = await Promise.all([this.list(null), this.nodes.workByOrganization()]);
    return nodes.map((n) => {
      const organizations = work.filter((w) => w.nodeId === n.id).map(({ nodeId: _, ...w }) => w);
      return { ...n, organizations };
    });
  }

  /** Says once, in this node's log, when a peer falls silent: its agents show offline, its jobs' leases lapse. */
  private notePeers(silent: string[]) {
    for (const id of silent) {
      if (this.silentPeers.has(id)) continue;
      this.logger.event(
        'warn',
        'a peer node is presumed dead: its agents show offline until they reconnect to a live node',
        { nodeId: id, silentForMoreThanSeconds: this.config.nodeDeadAfterSeconds },
        'Nodes',
      );
    }
    this.silentPeers = new Set(silent);
  }

  private async beat() {
    try {
      const { draining, silent } = await this.nodes.heartbeat(this.nodeId, this.config.nodeDeadAfterSeconds);
      this.notePeers(silent);
      if (draining && !this.lifecycle.draining) {
        this.logger.event('warn', 'this node is draining: it takes no new work and sends its agents to other nodes', { nodeId: this.nodeId }, 'Nodes');
        this.lifecycle.drain();
      } else if (!draining && this.lifecycle.undrain()) this.logger.event('info', 'this node was undrained: it takes agents and work again', { nodeId: this.nodeId }, 'Nodes');
    } catch (err) {
      this.logger.event('warn', 'node heartbeat failed', { err: (err as Error).message }, 'Nodes');
    }
  }
}
