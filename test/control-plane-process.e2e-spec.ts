import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAIN, ROOT, startControlPlane, waitFor } from './helpers/control-plane-process';
import { PASSWORD, uniqueEmail } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';
import { Client } from 'pg';

function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('the control-plane process', () => {
  it('refuses bad configuration with one message listing every bad variable, and no stack trace', async () => {
    const { code, output } = await runToExit({ PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://db/x', DATABASE_POOL_SIZE: '0' });
    expect(code).toBe(2);
    expect(output).toContain('PORT: must be a whole number');
    expect(output).toContain('LOG_LEVEL: must be one of debug, info, warn, error, got "loud"');
    expect(output).toContain('DATABASE_URL: must use postgres or postgresql');
    expect(output).toContain('DATABASE_POOL_SIZE: must be between 1 and 500');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('refuses to start with DATABASE_URL and no CORRAL_SECRETS_KEY, saying how to make one', async () => {
    const { code, output } = await runToExit({ DATABASE_URL: 'postgres://corral@127.0.0.1:1/corral', CORRAL_SECRETS_KEY: '' });
    expect(code).toBe(2);
    expect(output).toContain('CORRAL_SECRETS_KEY: must be set with DATABASE_URL');
    expect(output).toContain('openssl rand -base64 32');
    expect(output).not.toMatch(/\n\s+at /);
  });

  describe('on the embedded PostgreSQL', () => {
    let dataDir: string;
    beforeAll(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'corral-process-'));
      chmodSync(dataDir, 0o755);
    });
    afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

    it('starts, survives kill -9 with its data, and stops its database cleanly on SIGTERM; makes its secrets key file once', async () => {
      // No CORRAL_SECRETS_KEY: the embedded default keeps its own, 0600, under the data dir.
      const env = { CORRAL_DATA_DIR: dataDir, CORRAL_SECRETS_KEY: '' };
      const keyFile = join(dataDir, 'secrets.key');
      const email = uniqueEmail();

      const first = await startControlPlane(env);
      const key = readFileSync(keyFile, 'utf8');
      expect(Buffer.from(key.trim(), 'base64')).toHaveLength(32);
      try {
        expect(first.output()).toContain(`data in ${dataDir}`);
        const ready = await new HttpClient(first.url).get('/readyz');
        expect(ready.status).toBe(200);
        const signup = await new HttpClient(first.url).post('/api/v1/signup', { organization: 'Crash Test', email, password: PASSWORD });
        expect(signup.status).toBe(201);
        expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      } finally {
        first.child.kill('SIGKILL');
        await first.exited;
      }

      // The database the killed node started may still run, or have left a stale postmaster.pid.
      const second = await startControlPlane(env);
      try {
        const login = await new HttpClient(second.url).post('/api/v1/auth/login', { email, password: PASSWORD });
        expect(login.status).toBe(200);
        expect(login.body.organization.name).toBe('Crash Test');
      } finally {
        expect(await second.stop('SIGTERM')).toBe(0);
      }
      expect(second.output()).toContain('received SIGTERM, shutting down');
      await waitFor('PostgreSQL to be stopped', () => !existsSync(join(dataDir, 'postgres', 'postmaster.pid')), 10_000);

      const third = await startControlPlane(env);
      try {
        const login = await new HttpClient(third.url).post('/api/v1/auth/login', { email, password: PASSWORD });
        expect(login.status).toBe(200);
        // The same key every time: a new one would not open the data keys the first start made.
        expect(readFileSync(keyFile, 'utf8')).toBe(key);
        expect(third.output()).toContain('secret keys: sealing with k1');
      } finally {
        await third.stop('SIGINT');
      }
    });
  });

  it('reports not ready (503) while migrations are pending', async () => {
    // A database that exists but was never migrated, with start-up migrations switched off.
    const db = await createTestDatabase();
    try {
      const client = new Client({ connectionString: db.url });
      await client.connect();
      await client.query(`DELETE FROM migrations WHERE name LIKE 'AuditAppendOnly%'`);
      await client.end();
      const node = await startControlPlane({ DATABASE_URL: db.url, RUN_MIGRATIONS: 'false' });
      try {
        const res = await new HttpClient(node.url).get('/readyz');
        expect(res.status).toBe(503);
        expect(res.body.error.message).toContain('migrations are pending');
        expect((await new HttpClient(node.url).get('/healthz')).status).toBe(200);
      } finally {
        await node.stop();
      }
    } finally {
      await db.drop();
    }
  });
});
