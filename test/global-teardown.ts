import { rmSync } from 'node:fs';
import { Client } from 'pg';
import { withDatabase } from '../src/database/database-url';

export default async function globalTeardown() {
  const state = globalThis.__CORRAL_TEST_PG__;
  if (!state) return;
  const client = new Client({ connectionString: withDatabase(state.serverUrl, 'postgres') });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${state.template} WITH (FORCE)`);
  await client.end();
  await state.postgres?.stop();
  if (state.dataDir) rmSync(state.dataDir, { recursive: true, force: true });
}
