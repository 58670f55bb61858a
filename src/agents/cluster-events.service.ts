import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { CorralLogger } from '../common/logger';

export const CLUSTER_CHANNEL = 'corral_events';
const CHANNEL = CLUSTER_CHANNEL;
// NOTIFY payloads are limited to 8000 bytes; lists of ids are sent in slices below that.
export const IDS_PER_NOTIFY = 150;

/** What one node tells every node (itself included). Each only says "look again". */
export type ClusterEvent =
  | { kind: 'agent-changed'; agentId: string }
  | { kind: 'jobs-ready'; agentIds: string[]; cancels?: boolean; from?: string }
  | { kind: 'task-changed'; taskIds: string[] }
  | { kind: 'node-changed'; nodeId: string }
  | { kind: 'keys-changed' };

const KINDS = new Set<ClusterEvent['kind']>(['agent-changed', 'jobs-ready', 'task-changed', 'node-changed', 'keys-changed']);

// Unique ids in slices that fit a notification.
function slices(ids: Iterable<string>): string[][] {
  const unique = [...new Set(ids)];
  const out: string[][] = [];
  for (let i = 0; i < unique.length; i += IDS_PER_NOTIFY) out.push(unique.slice(i, i + IDS_PER_NOTIFY));
  return out;
}

/**
 * Cross-node wake-ups over PostgreSQL LISTEN/NOTIFY. A notification only says "look again":
 * receivers re-read what it names, so a lost or duplicated notification cannot leave stale
 * state, and every receiver also re-checks on a timer. Emits each event under its kind, and
 * `resync` after the listener had to reconnect (anything may have been missed).
 */
@Injectable()
export class ClusterEventsService extends EventEmitter implements OnModuleInit, OnApplicationShutdown {
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

  /** Call after the change commits. */
  async agentChanged(agentId: string): Promise<void> {
    await this.publish({ kind: 'agent-changed', agentId });
  }

  /** Events saying that these agents have work to be offered (or, with `cancels`, jobs to stop). */
  static jobsReady(agentIds: Iterable<string>, cancels = false): ClusterEvent[] {
    return slices(agentIds).map((ids) => ({ kind: 'jobs-ready', agentIds: ids, ...(cancels ? { cancels } : {}) }));
  }

  /** Events saying that these tasks changed (their state, jobs or log). */
  static tasksChanged(taskIds: Iterable<string>): ClusterEvent[] {
    return slices(taskIds).map((ids) => ({ kind: 'task-changed', taskIds: ids }));
  }

  /**
   * Sends several events in one statement. Inside a transaction (`em`), PostgreSQL delivers
   * them only if and when it commits, which is exactly when receivers should look again.
   */
  async publishAll(events: ClusterEvent[], em: EntityManager = this.dataSource.manager): Promise<void> {
    if (!events.length) return;
    await em.query(`SELECT pg_notify($1, e) FROM unnest($2::text[]) AS e`, [CHANNEL, events.map((e) => JSON.stringify(e))]);
  }

  async nodeChanged(nodeId: string): Promise<void> {
    await this.publish({ kind: 'node-changed', nodeId });
  }

  /** The server signing keys changed (a rotation step): nodes reload them and tell their agents. */
  async keysChanged(): Promise<void> {
    await this.publish({ kind: 'keys-changed' });
  }

  private async publish(event: ClusterEvent): Promise<void> {
    await this.dataSource.query(`SELECT pg_notify($1, $2)`, [CHANNEL, JSON.stringify(event)]);
  }

  private async listen() {
    const options = this.dataSource.driver.options as { url?: string };
    const client = new Client({ connectionString: options.url, application_name: 'corral-listen' });
    client.on('notification', (msg) => {
      try {
        const event = JSON.parse(msg.payload ?? '') as ClusterEvent;
        if (!KINDS.has(event.kind)) throw new Error('unknown kind');
        this.emit(event.kind, event);
      } catch {
        this.logger.event('warn', 'ignored a malformed cluster notification', { payload: msg.payload }, 'ClusterEvents');
      }
    });
    client.on('error', (err) => {
      this.logger.event('warn', 'cluster event listener lost its connection; reconnecting', { err: err.message }, 'ClusterEvents');
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
        // Anything announced while we were deaf: every holder re-checks what it holds.
        this.emit('resync');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt) * Math.random()));
      }
    }
  }
}
