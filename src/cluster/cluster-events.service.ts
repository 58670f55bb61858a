import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { CorralLogger } from '../common/logger';
import type { SqlPart } from '../database/sql';
import { type ClusterEvent, type ClusterEventKind, type ClusterEventOf, parseClusterEvent } from './cluster-event.schema';

export const CLUSTER_CHANNEL = 'corral_events';
const CHANNEL = CLUSTER_CHANNEL;
// NOTIFY payloads are limited to 8000 bytes; lists of ids are sent in slices below that.
export const IDS_PER_NOTIFY = 150;
// Task changes of the hot paths reach other nodes' followers this much later, several in one notification.
const TASKS_CHANGED_DELAY_MS = 100;

/** What a listener of each kind hears; `resync` follows a reconnect of the listener (anything may have been missed). */
export type ClusterListeners = { [K in ClusterEventKind]: (event: ClusterEventOf<K>) => void } & { resync: () => void };

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
 * state, and every receiver also re-checks on a timer. Each notification is validated against
 * its kind's schema before any listener hears it; one that is not an event is logged and
 * dropped. Emits each event under its kind, and `resync` after the listener had to reconnect.
 */
@Injectable()
export class ClusterEventsService implements OnModuleInit, OnApplicationShutdown {
  /** This node, as the cluster knows it (server_nodes, agents' presence, where an event came from). */
  readonly nodeId = randomUUID();
  private readonly emitter = new EventEmitter();
  private listener: Client | undefined;
  private closing = false;
  private readonly changedTasks = new Set<string>();
  private tasksTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: CorralLogger,
  ) {
    this.emitter.setMaxListeners(0);
  }

  async onModuleInit() {
    await this.listen();
  }

  async onApplicationShutdown() {
    this.closing = true;
    clearTimeout(this.tasksTimer);
    await this.flushChangedTasks();
    await this.listener?.end().catch(() => undefined);
  }

  on<K extends keyof ClusterListeners>(kind: K, listener: ClusterListeners[K]): this {
    this.emitter.on(kind, listener);
    return this;
  }

  off<K extends keyof ClusterListeners>(kind: K, listener: ClusterListeners[K]): this {
    this.emitter.off(kind, listener);
    return this;
  }

  /**
   * These tasks changed (and it is committed): followers on this node hear it now, those on other
   * nodes a moment later, together with the other tasks changed meanwhile, in one notification.
   * For the hot paths, which would otherwise notify once per statement: every notifying commit
   * takes PostgreSQL's one cluster-wide notification lock.
   */
  tasksChanged(taskIds: Iterable<string>) {
    const ids = [...taskIds];
    if (!ids.length) return;
    this.emit({ kind: 'task-changed', taskIds: ids });
    for (const id of ids) this.changedTasks.add(id);
    this.tasksTimer ??= setTimeout(() => void this.flushChangedTasks(), TASKS_CHANGED_DELAY_MS);
  }

  private async flushChangedTasks() {
    this.tasksTimer = undefined;
    const ids = [...this.changedTasks];
    this.changedTasks.clear();
    // Followers re-read on a timer too: a lost notification only delays them.
    await this.publishAll(slices(ids).map((taskIds) => ({ kind: 'task-changed', taskIds, from: this.nodeId }))).catch((err: Error) =>
      this.logger.event('warn', 'could not tell other nodes about changed tasks', { err: err.message }, 'ClusterEvents'),
    );
  }

  /** Tells this node at once and the others as the notification reaches them. Call after the change commits. */
  async announce(event: ClusterEventOf<'credentials-changed' | 'limits-changed'>): Promise<void> {
    this.emit(event);
    await this.publish({ ...event, from: this.nodeId });
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

  /** Events sent by another module's statement once it has made any row of `made` (see SqlPart), when it commits. */
  publishPart(events: ClusterEvent[]): SqlPart {
    return {
      name: 'notify',
      sql: (made, p) => `SELECT pg_notify('${CHANNEL}', e) FROM unnest($${p}::text[]) AS e WHERE EXISTS (SELECT 1 FROM ${made})`,
      values: [events.map((e) => JSON.stringify(e))],
    };
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

  private emit(event: ClusterEvent) {
    this.emitter.emit(event.kind, event);
  }

  private receive(payload: string | undefined) {
    const parsed = parseClusterEvent(payload);
    if ('problem' in parsed) return this.logger.event('warn', 'ignored a malformed cluster notification', { payload, problem: parsed.problem }, 'ClusterEvents');
    const { event } = parsed;
    if ('from' in event && event.from === this.nodeId) return;
    try {
      this.emit(event);
    } catch (err) {
      // A failing listener must not take the connection's notification handler down with it.
      this.logger.event('warn', 'a cluster event listener failed', { kind: event.kind, err: (err as Error).message }, 'ClusterEvents');
    }
  }

  private async listen() {
    const options = this.dataSource.driver.options as { url?: string };
    const client = new Client({ connectionString: options.url, application_name: 'corral-listen' });
    client.on('notification', (msg) => this.receive(msg.payload));
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
        this.emitter.emit('resync');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt) * Math.random()));
      }
    }
  }
}
