import { mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { withDatabase } from '../src/database/database-url';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { runMigrationsLocked } from '../src/database/migrations';

declare global {
  var __CORRAL_TEST_PG__: { postgres?: EmbeddedPostgres; dataDir?: string; serverUrl: string; template: string } | undefined;
}

/**
 * One PostgreSQL for the whole run (DATABASE_URL, or an embedded one in a temp dir) and one
 * migrated template database; every test file clones its own database from the template.
 */
export default async function globalSetup() {
  let serverUrl = process.env.DATABASE_URL;
  let postgres: EmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  if (!serverUrl) {
    dataDir = mkdtempSync(join(tmpdir(), 'corral-test-'));
    chmodSync(dataDir, 0o755);
    postgres = new EmbeddedPostgres({ dataDir });
    const running = await postgres.start();
    serverUrl = running.socketUrl ?? running.url;
  }
  const template = `corral_tpl_${process.pid}`;
  const client = new Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  await client.query(`CREATE DATABASE ${template}`);
  await client.end();
  await runMigrationsLocked(withDatabase(serverUrl, template));
  process.env.CORRAL_TEST_SERVER_URL = serverUrl;
  process.env.CORRAL_TEST_TEMPLATE = template;
  globalThis.__CORRAL_TEST_PG__ = { postgres, dataDir, serverUrl, template };
}
