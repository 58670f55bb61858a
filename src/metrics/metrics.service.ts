import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AgentConnectionsService } from '../agents/agent-connections.service';
import { AgentsRepository } from '../agents/agents.repository';
import { AGENT_STATUSES } from '../protocol/messages';
import { JobsRepository } from '../tasks/jobs.repository';
import { agentsByStatus, buildInfo, connectedAgents, corralVersion, jobsByState, queueDepth, registry } from './metrics';
import { metricsLog } from './metrics-log';

@Injectable()
export class MetricsService implements OnApplicationShutdown {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly connections: AgentConnectionsService,
    private readonly agents: AgentsRepository,
  ) {
    buildInfo.set({ version: corralVersion(), node: connections.nodeId }, 1);
  }

  onApplicationShutdown() {
    metricsLog.close();
  }

  /** Reads the cluster-wide gauges (the jobs' served by the queue's partial indexes), then renders everything. */
  async render(): Promise<{ contentType: string; body: string }> {
    const [rows, agents] = await Promise.all([this.jobs.countActive(), this.agents.countAllByStatus()]);
    for (const status of AGENT_STATUSES) {
      const row = agents.find((r) => r.status === status);
      agentsByStatus.set({ status, connected: 'true' }, row?.connected ?? 0);
      agentsByStatus.set({ status, connected: 'false' }, (row?.n ?? 0) - (row?.connected ?? 0));
    }
    for (const state of ['queued', 'offered', 'running']) jobsByState.set({ state }, rows.find((r) => r.state === state)?.n ?? 0);
    queueDepth.set(rows.reduce((sum, r) => sum + r.ready, 0));
    for (const [transport, n] of Object.entries(this.connections.socketsByTransport())) connectedAgents.set({ transport }, n);
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}
