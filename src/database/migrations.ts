import { Client } from 'pg';
import { createDataSource } from './data-source';

// Any constant shared by every node; pg_advisory_lock serialises nodes that start together.
const MIGRATION_LOCK_KEY = 727_274_001;

/** Applies pending migrations while holding a cluster-wide advisory lock; returns the names applied. */
export async function runMigrationsLocked(url: string): Promise<string[]> {
  const lock = new Client({ connectionString: url, application_name: 'corral-migrations' });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const dataSource = createDataSource(url, 2);
    await dataSource.initialize();
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.end();
  }
}
