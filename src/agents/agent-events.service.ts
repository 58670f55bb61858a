import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { CorralLogger } from '../common/logger';

const CHANNEL = 'corral_agent_events';

export interface AgentChangedEvent {
  agentId: string;
}

/**
 * Cross-node wake-ups over PostgreSQL LISTEN/NOTIFY. A notification only says "look again":
 * receivers re-read the agent, so a lost or duplicated notification cannot leave stale state.
 */
@Injectable()
export class AgentEventsService extends EventEmitter implements OnModuleInit, OnApplicationShutdown {
  private listener: Client | undefined;
  private closing = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: CorralLogger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  async onModuleInit() {
    await this.listen();
  }

  async onApplicationShutdown() {
    this.closing = true;
    await this.listener?.end().catch(() => undefined);
  }

  /** Tells every node (this one included) that an agent changed. Call after the change commits. */
  async agentChanged(agentId: string): Promise<void> {
    await this.dataSource.query(`SELECT pg_notify($1, $2)`, [CHANNEL, JSON.stringify({ agentId })]);
  }

  private async listen() {
    const options = this.dataSource.driver.options as { url?: string };
    const client = new Client({ connectionString: options.url, application_name: 'corral-listen' });
    client.on('notification', (msg) => {
      try {
        const event = JSON.parse(msg.payload ?? '') as AgentChangedEvent;
        if (typeof event.agentId === 'string') this.emit('agent-changed', event);
      } catch {
        this.logger.event('warn', 'ignored a malformed agent notification', { payload: msg.payload }, 'AgentEvents');
      }
    });
    client.on('error', (err) => {
      this.logger.event('warn', 'agent event listener lost its connection; reconnecting', { err: err.message }, 'AgentEvents');
      void this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  private async reconnect() {
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
    for (let attempt = 0; !this.closing; attempt++) {
      try {
        await this.listen();
        // Anything announced while we were deaf: every holder re-checks its agents.
        this.emit('resync');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt) * Math.random()));
      }
    }
  }
}
