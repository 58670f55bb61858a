import { Global, Injectable, Module } from '@nestjs/common';
import type { Pool, QueryResultRow } from 'pg';
import { DataSource } from 'typeorm';
import { dbQueries } from '../metrics/metrics';

/** PostgreSQL's error code of a failed statement, whether it came through TypeORM or straight from pg. */
export function sqlErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

export const DEADLOCK_DETECTED = '40P01';

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
 * The queue's hot statements, sent as named statements on the pool TypeORM already owns: each
 * is parsed and planned once per connection instead of on every call.
 */
@Injectable()
export class Sql {
  constructor(private readonly dataSource: DataSource) {}

  async query<T extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<T[]> {
    dbQueries.inc();
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    return (await pool.query<T>({ name, text, values })).rows;
  }
}

@Global()
@Module({ providers: [Sql], exports: [Sql] })
export class SqlModule {}
