import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source';
import { runMigrationsLocked } from '../../src/database/migrations';
import { createTestDatabase } from '../helpers/test-database';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

describe('migration: environments from the labels agents and enrollment tokens carry', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  beforeAll(async () => {
    db = await createTestDatabase();
    ds = new DataSource(dataSourceOptions(db.url, 2));
    await ds.initialize();
    // Back to the schema before environments existed (later migrations undone first), with labels as they were used then.
    const hasEnvironments = async () => (await ds.query(`SELECT to_regclass('environments') IS NOT NULL AS t`))[0].t as boolean;
    while (await hasEnvironments()) await ds.undoLastMigration();
    await ds.query(`INSERT INTO organizations (id, name, slug) VALUES ($1, 'A', 'a'), ($2, 'B', 'b')`, [A, B]);
    const agent = (org: string, name: string, status: string, environments: string[]) =>
      ds.query(
        `INSERT INTO agents (organization_id, name, hostname, os, arch, agent_version, public_key, fingerprint, verification_code, status, environments)
         VALUES ($1, $2, 'h', 'linux', 'x64', '1', $2, $2, $2, $3, $4)`,
        [org, name, status, environments],
      );
    await agent(A, 'web-1', 'approved', ['prod', 'Dev']);
    await agent(A, 'web-2', 'approved', ['Prod', 'prod']);
    await agent(B, 'db-1', 'pending', ['qa']);
    await agent(B, 'db-2', 'approved', []);
    const [user] = await ds.query(`INSERT INTO users (email, password_hash) VALUES ('b@example.com', 'x') RETURNING id`);
    await ds.query(
      `INSERT INTO enrollment_tokens (organization_id, token_hash, prefix, expires_at, max_uses, environments, created_by)
       VALUES ($1, 'hash', 'crl_enr_', now(), 1, '{staging}', $2)`,
      [B, user.id],
    );
    await ds.destroy();
    await runMigrationsLocked(db.url);
    ds = new DataSource(dataSourceOptions(db.url, 2));
    await ds.initialize();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('makes one environment per name whatever its case, per organisation, in name order', async () => {
    const rows = await ds.query(`SELECT organization_id AS org, name, position FROM environments ORDER BY organization_id, position`);
    expect(rows).toEqual([
      { org: A, name: 'Dev', position: 0 },
      { org: A, name: 'Prod', position: 1 },
      { org: B, name: 'qa', position: 0 },
      { org: B, name: 'staging', position: 1 },
    ]);
  });

  it('spells every label as its environment, once', async () => {
    const agents = await ds.query(`SELECT name, environments FROM agents ORDER BY name`);
    expect(agents).toEqual([
      { name: 'db-1', environments: ['qa'] },
      { name: 'db-2', environments: [] },
      { name: 'web-1', environments: ['Dev', 'Prod'] },
      { name: 'web-2', environments: ['Prod'] },
    ]);
    expect(await ds.query(`SELECT environments FROM enrollment_tokens`)).toEqual([{ environments: ['staging'] }]);
  });
});
