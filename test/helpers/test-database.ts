import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { withDatabase } from '../../src/database/database-url';

/** Where the global setup left the shared server and the migrated template. */
export function testDatabaseEnv(): { serverUrl: string; template: string } {
  const serverUrl = process.env.CORRAL_TEST_SERVER_URL;
  const template = process.env.CORRAL_TEST_TEMPLATE;
  if (!serverUrl || !template) throw new Error('run e2e tests through jest (npm test): the global setup prepares the database');
  return { serverUrl, template };
}

async function admin<T>(serverUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database cloned from the migrated template: each test file gets its own. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const { serverUrl, template } = testDatabaseEnv();
  const name = `corral_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return {
    url: withDatabase(serverUrl, name),
    drop: () => admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
