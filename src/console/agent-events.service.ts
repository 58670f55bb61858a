import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AgentsRepository } from '../agents/agents.repository';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { type Actor, clientIp } from '../common/actor';
import { LiveConnectionsService } from '../orgs/live-connections.service';

const KEEPALIVE_MS = 15_000;

type Send = (event: string, data: unknown) => void;

/** What this node knows for one organisation whose users follow agent changes. */
interface Followed {
  /** Its agents' ids: a deleted one is no longer found, but was the organisation's to mention. */
  known: Promise<Set<string>>;
  streams: Set<Send>;
}

/**
 * Streams "this agent changed" to console users as server-sent events, for their own
 * organisation only. Events say what changed; the console re-reads what it shows. Each
 * organisation's agents are known, and each change looked up, once per node however many of its
 * users follow (2,000 streams of one organisation with 10,000 agents once held a set of every id
 * each: 3 GB; bench phase `held`).
 */
@Injectable()
export class AgentEventsService implements BeforeApplicationShutdown {
  private readonly open = new Set<() => void>();
  private readonly followed = new Map<string, Followed>();

  constructor(
    private readonly events: ClusterEventsService,
    private readonly agents: AgentsRepository,
    private readonly live: LiveConnectionsService,
  ) {
    events.on('agent-changed', ({ agentId }: { agentId: string }) => {
      for (const [organizationId, followed] of this.followed) void this.changed(organizationId, followed, agentId);
    });
    // The node's listener reconnected and may have missed events: the console re-reads everything.
    events.on('resync', () => {
      for (const followed of this.followed.values()) for (const send of followed.streams) send('resync', {});
    });
  }

  beforeApplicationShutdown() {
    for (const close of [...this.open]) close();
  }

  async follow(actor: Actor, req: Request, res: Response): Promise<void> {
    const { organizationId } = actor;
    const release = await this.live.open(organizationId, clientIp(req));
    let followed: Followed;
    try {
      followed = await this.organization(organizationId);
    } catch (err) {
      release();
      throw err;
    }
    // Gone while its organisation's agents were read: nothing would close it later.
    if (res.destroyed) return release();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    res.flushHeaders();
    let closed = false;
    const send: Send = (event, data) => !closed && res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const keepalive = setInterval(() => !closed && res.write(': keepalive\n\n'), KEEPALIVE_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      this.open.delete(close);
      followed.streams.delete(send);
      if (!followed.streams.size && this.followed.get(organizationId) === followed) this.followed.delete(organizationId);
      release();
      clearInterval(keepalive);
      res.end();
    };
    this.open.add(close);
    followed.streams.add(send);
    req.on('close', close);
    res.on('close', close);
    send('ready', {});
  }

  /** The organisation as this node follows it: its agents read once, for every stream of its users. */
  private async organization(organizationId: string): Promise<Followed> {
    let followed = this.followed.get(organizationId);
    if (!followed) {
      const known = this.agents.listForOrganization(organizationId).then((list) => new Set(list.map((a) => a.id)));
      followed = { known, streams: new Set() };
      this.followed.set(organizationId, followed);
      const mine = followed;
      known.catch(() => this.followed.get(organizationId) === mine && this.followed.delete(organizationId));
    }
    await followed.known;
    return followed;
  }

  /** One look-up for the organisation's streams: the agent's status, or null when an agent it had is gone. */
  private async changed(organizationId: string, followed: Followed, agentId: string) {
    const tell = (event: string, data: unknown) => {
      for (const send of followed.streams) send(event, data);
    };
    try {
      const [known, agent] = await Promise.all([followed.known, this.agents.findInOrganization(organizationId, agentId)]);
      if (agent) {
        known.add(agent.id);
        tell('agent-changed', { agentId, status: agent.status });
      } else if (known.delete(agentId)) tell('agent-changed', { agentId, status: null });
    } catch {
      tell('resync', {});
    }
  }
}
