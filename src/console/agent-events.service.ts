import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AgentsRepository } from '../agents/agents.repository';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { type Actor, clientIp } from '../common/actor';
import { LiveConnectionsService } from '../orgs/live-connections.service';

const KEEPALIVE_MS = 15_000;

/**
 * Streams "this agent changed" to console users as server-sent events, for their own
 * organisation only. Events say what changed; the console re-reads what it shows.
 */
@Injectable()
export class AgentEventsService implements BeforeApplicationShutdown {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly events: ClusterEventsService,
    private readonly agents: AgentsRepository,
    private readonly live: LiveConnectionsService,
  ) {}

  beforeApplicationShutdown() {
    for (const close of [...this.open]) close();
  }

  async follow(actor: Actor, req: Request, res: Response): Promise<void> {
    // Agents this organisation had: a deleted one is no longer found, but was ours to mention.
    const known = new Set((await this.agents.listForOrganization(actor.organizationId)).map((a) => a.id));
    const release = await this.live.open(actor.organizationId, clientIp(req));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    res.flushHeaders();
    let closed = false;
    const send = (event: string, data: unknown) => !closed && res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

    const onAgent = ({ agentId }: { agentId: string }) =>
      void this.agents.findInOrganization(actor.organizationId, agentId).then(
        (agent) => {
          if (agent) {
            known.add(agent.id);
            send('agent-changed', { agentId, status: agent.status });
          } else if (known.delete(agentId)) send('agent-changed', { agentId, status: null });
        },
        () => send('resync', {}),
      );
    // The node's listener reconnected and may have missed events: the console re-reads everything.
    const onResync = () => send('resync', {});
    const keepalive = setInterval(() => !closed && res.write(': keepalive\n\n'), KEEPALIVE_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      this.open.delete(close);
      release();
      clearInterval(keepalive);
      this.events.off('agent-changed', onAgent);
      this.events.off('resync', onResync);
      res.end();
    };
    this.open.add(close);
    this.events.on('agent-changed', onAgent);
    this.events.on('resync', onResync);
    req.on('close', close);
    res.on('close', close);
    send('ready', {});
  }
}
