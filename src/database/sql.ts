import { Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { dbQueries, statementDuration, statementTime } from './database-metrics';

/** PostgreSQL's error code of a failed statement, whether it came through TypeORM or straight from pg. */
export function sqlErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

export const DEADLOCK_DETECTED = '40P01';
// Connections for statements that need not wait for the disk (besides the node's DATABASE_POOL_SIZE).
const LAZY_POOL_SIZE = 4;

/**
 * Runs a transaction again when PostgreSQL broke a deadlock by aborting it (two paths locked the
 * same rows in different orders at the same moment): the retry finds the other one done.
 */
export async function retryOnDeadlock<T>(transaction: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction();
    } catch (err) {
      if (attempt >= attempts || sqlErrorCode(err) !== DEADLOCK_DETECTED) throw err;
    }
  }
}

/**
 * Another module's statement riding along inside a hot statement of this one, as a CTE, so that
 * both commit together in one round trip: the module keeps its SQL, the host only composes it.
 * It reads what the host made from the CTE the host names, with its parameters numbered after the
 * host's, and returns rows (a SELECT, or a change with RETURNING), which the host reads so that it
 * always runs (PostgreSQL skips a CTE no one reads unless it changes rows).
 */
export interface SqlPart {
  /** Names the composed statement, after the host's. */
  name: string;
  sql(made: string, firstParam: number): string;
  values: unknown[];
}

/** Parts as CTEs of a host statement with `hostParams` parameters: `ctes` go in its WITH, `reads` (a condition, always true) in its final WHERE. */
export function composeParts(parts: SqlPart[], made: string, hostParams: number): { name: string; ctes: string; reads: string; values: unknown[] } {
  let next = hostParams + 1;
  const ctes = parts.map((part, i) => {
    const sql = `, part_${i} AS (${part.sql(made, next)})`;
    next += part.values.length;
    return sql;
  });
  return {
    name: parts.map((p) => `+${p.name}`).join(''),
    ctes: ctes.join(''),
    reads: ['true', ...parts.map((_, i) => `(SELECT count(*) FROM part_${i}) >= 0`)].join(' AND '),
    values: parts.flatMap((p) => p.values),
  };
}

/** How a statement's commit waits: `durable` (the default) until it is on disk; `lazy` not. */
export type Commit = 'durable' | 'lazy';

/**
 * The queue's hot statements, sent as named statements: each is parsed once per connection
 * instead of on every call. (PostgreSQL still plans one for its values while such a plan looks
 * cheaper than a generic one, as it does for small batches; forcing generic plans on the session
 * would do so for TypeORM's unnamed statements too, where a value decides which partial index
 * applies.) Durable ones use the pool TypeORM already owns. Lazy ones
 * (`synchronous_commit = off`) are for changes that may be lost in a database crash without
 * harm, because they are redone or superseded: offers (a lost offer is offered again, and the
 * accept that starts a job is durable and makes everything before it durable too), presence and
 * lease renewals. They are answered without waiting for the disk.
 */
@Injectable()
export class Sql implements OnApplicationShutdown {
  private lazyPool: Pool | undefined;

  constructor(private readonly dataSource: DataSource) {}

  async query<T extends QueryResultRow>(name: string, text: string, values: unknown[], commit: Commit = 'durable'): Promise<T[]> {
    dbQueries.inc();
    const done = statementDuration.startTimer({ statement: name.replace(/^corral_/, '') });
    try {
      return (await this.pool(commit).query<T>({ name, text, values })).rows;
    } finally {
      statementTime.seconds += done();
    }
  }

  /** A named statement on the connection of the caller's transaction (`em`). */
  async queryIn<T extends QueryResultRow>(em: EntityManager, name: string, text: string, values: unknown[]): Promise<T[]> {
    if (!em.queryRunner) throw new Error(`${name} needs a transaction's EntityManager`);
    const client = (await em.queryRunner.connect()) as PoolClient;
    dbQueries.inc();
    const done = statementDuration.startTimer({ statement: name.replace(/^corral_/, '') });
    try {
      return (await client.query<T>({ name, text, values })).rows;
    } finally {
      statementTime.seconds += done();
    }
  }

  async onApplicationShutdown() {
    await this.lazyPool?.end().catch(() => undefined);
  }

  private pool(commit: Commit): Pool {
    if (commit === 'durable') return (this.dataSource.driver as unknown as { master: Pool }).master;
    const { url } = this.dataSource.driver.options as { url?: string };
    if (!this.lazyPool) {
      this.lazyPool = new Pool({ connectionString: url, max: LAZY_POOL_SIZE, application_name: 'corral-lazy', options: '-c synchronous_commit=off' });
      // An idle connection the server ended (PostgreSQL restarted, a proxy cut it) is an 'error'
      // event on the pool; unheard, it would end the process. The pool drops that connection and
      // opens another on the next query, whose own failure its caller hears.
      this.lazyPool.on('error', () => undefined);
    }
    return this.lazyPool;
  }
}

@Global()
@Module({ providers: [Sql], exports: [Sql] })
export class SqlModule {}
