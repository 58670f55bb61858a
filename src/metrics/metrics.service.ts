import { Injectable } from '@nestjs/common';
import { AgentConnectionsService } from '../agents/agent-connections.service';
import { JobsRepository } from '../tasks/jobs.repository';
import { connectedAgents, jobsByState, queueDepth, registry } from './metrics';

@Injectable()
export class MetricsService {
  constructor(
    private readonly jobs: JobsRepository,
    private readonly connections: AgentConnectionsService,
  ) {}

  /** Reads the cluster-wide gauges (served by the queue's partial indexes), then renders everything. */
  async render(): Promise<{ contentType: string; body: string }> {
    const rows = await this.jobs.countActive();
    for (const state of ['queued', 'offered', 'running']) jobsByState.set({ state }, rows.find((r) => r.state === state)?.n ?? 0);
    queueDepth.set(rows.reduce((sum, r) => sum + r.ready, 0));
    for (const [transport, n] of Object.entries(this.connections.socketsByTransport())) connectedAgents.set({ transport }, n);
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}
