import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { EmbeddedPostgres, EmbeddedPostgresOptions, RunningPostgres } from '../src/database/embedded-postgres';

jest.setTimeout(120_000);

const MODULE_PATH = path.resolve(__dirname, '../src/database/embedded-postgres.ts');

let dataDir: string;

beforeEach(async () => {
  dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'corral-pg-'));
  // As root the server runs as the postgres user, which must be able to traverse this dir.
  await fsp.chmod(dataDir, 0o755);
});

afterEach(async () => {
  // A fresh manager stops whatever server runs on the dir, including ones started elsewhere.
  await new EmbeddedPostgres({ dataDir }).stop();
  await fsp.rm(dataDir, { recursive: true, force: true });
});

function manager(options: Partial<EmbeddedPostgresOptions> = {}): EmbeddedPostgres {
  return new EmbeddedPostgres({ dataDir, ...options });
}

async function query<T extends Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function pidFile(): string {
  return path.join(dataDir, 'postgres', 'postmaster.pid');
}

function postmasterPid(): number {
  return Number.parseInt(fs.readFileSync(pidFile(), 'utf8').split('\n')[0], 10);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.once('error', reject);
    child.once('exit', () => resolve(child.pid as number));
  });
}

describe('EmbeddedPostgres', () => {
  it('initialises a cluster, serves queries and keeps data across restarts', async () => {
    const lines: string[] = [];
    const pg = manager({ log: (line) => lines.push(line) });

    const first = await pg.start();
    expect(first.adopted).toBe(false);
    expect(first.dataDir).toBe(dataDir);
    expect(first.url).toMatch(new RegExp(`^postgres://corral:[^@]+@127\\.0\\.0\\.1:${first.port}/corral$`));
    expect(lines.some((line) => line.startsWith('initialising database cluster in'))).toBe(true);
    expect(await query(first.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    expect(fs.statSync(path.join(dataDir, 'postgres-password')).mode & 0o777).toBe(0o600);

    // Password authentication is actually enforced.
    const wrong = first.url.replace(/corral:[^@]+@/, 'corral:wrong@');
    await expect(query(wrong, 'select 1')).rejects.toThrow(/password authentication failed/);

    // The same server through its unix socket in the cluster directory, with the same password.
    expect(first.socketUrl).toBe(`${first.url}?host=${encodeURIComponent(path.join(dataDir, 'postgres'))}`);
    expect(await query(first.socketUrl!, 'select inet_server_addr() as addr')).toEqual([{ addr: null }]);
    await expect(query(first.socketUrl!.replace(/corral:[^@]+@/, 'corral:wrong@'), 'select 1')).rejects.toThrow(/password authentication failed/);

    expect(await pg.start()).toEqual(first);
    await query(first.url, 'create table things (name text primary key)');
    await query(first.url, "insert into things values ('kept')");
    await pg.stop();
    await pg.stop();

    const second = await pg.start();
    expect(second.port).toBe(first.port);
    expect(second.adopted).toBe(false);
    expect(await query(second.url, 'select name from things')).toEqual([{ name: 'kept' }]);
  });

  it('uses an explicitly requested port', async () => {
    const port = await freePort();
    const running = await manager({ port }).start();
    expect(running.port).toBe(port);
    expect(running.url).toContain(`@127.0.0.1:${port}/corral`);
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('picks a new port when the remembered one is taken', async () => {
    const pg = manager();
    const first = await pg.start();
    await pg.stop();

    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(first.port, '127.0.0.1', resolve));
    try {
      const second = await pg.start();
      expect(second.port).not.toBe(first.port);
      expect(await query(second.url, 'select 1 as one')).toEqual([{ one: 1 }]);
      expect(fs.readFileSync(path.join(dataDir, 'postgres.port'), 'utf8').trim()).toBe(String(second.port));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('adopts a server left running by another manager and can stop it', async () => {
    const original = await manager().start();
    const pid = postmasterPid();

    const successor = manager();
    const adopted = await successor.start();
    expect(adopted).toEqual({ ...original, adopted: true });
    expect(postmasterPid()).toBe(pid);
    expect(await query(adopted.url, 'select 1 as one')).toEqual([{ one: 1 }]);

    await successor.stop();
    await waitUntil(() => !isAlive(pid));
    expect(fs.existsSync(pidFile())).toBe(false);
  });

  it('adopts the server after the Node process that started it is killed with SIGKILL', async () => {
    // The child loads the TypeScript module through @swc/core, which jest already depends on.
    const script = `
      const fs = require('node:fs');
      const swc = require(${JSON.stringify(require.resolve('@swc/core'))});
      require.extensions['.ts'] = (module, filename) => {
        const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
          filename, swcrc: false, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' },
        });
        module._compile(code, filename);
      };
      const { EmbeddedPostgres } = require(${JSON.stringify(MODULE_PATH)});
      new EmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} }).start().then(
        (running) => { process.stdout.write(JSON.stringify(running) + '\\n'); setInterval(() => {}, 1000); },
        (err) => { process.stderr.write(String(err && err.message) + '\\n'); process.exit(1); },
      );
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const started = await new Promise<RunningPostgres>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve(JSON.parse(stdout) as RunningPostgres);
      });
      child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
    });
    const pid = postmasterPid();

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(isAlive(pid)).toBe(true);

    const adopted = await manager().start();
    expect(adopted.adopted).toBe(true);
    expect(adopted.port).toBe(started.port);
    expect(adopted.url).toBe(started.url);
    expect(await query(adopted.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('recovers after the postmaster itself is killed with SIGKILL', async () => {
    const pg = manager();
    const running = await pg.start();
    await query(running.url, "create table survivors as select 'yes'::text as answer");
    const pid = postmasterPid();
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !isAlive(pid));
    expect(fs.existsSync(pidFile())).toBe(true);

    const restarted = await manager().start();
    expect(restarted.adopted).toBe(false);
    expect(postmasterPid()).not.toBe(pid);
    expect(await query(restarted.url, 'select answer from survivors')).toEqual([{ answer: 'yes' }]);
  });

  it('starts despite a stale postmaster.pid naming a dead process', async () => {
    const pg = manager();
    await pg.start();
    const realPidFile = fs.readFileSync(pidFile(), 'utf8');
    await pg.stop();

    const dead = await deadPid();
    fs.writeFileSync(pidFile(), realPidFile.replace(/^\d+/, String(dead)));
    const running = await pg.start();
    expect(running.adopted).toBe(false);
    expect(postmasterPid()).not.toBe(dead);
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('starts despite a stale postmaster.pid naming a live unrelated process', async () => {
    const pg = manager();
    await pg.start();
    const realPidFile = fs.readFileSync(pidFile(), 'utf8');
    await pg.stop();

    // The jest worker itself is alive and certainly not a postmaster.
    fs.writeFileSync(pidFile(), realPidFile.replace(/^\d+/, String(process.pid)));
    const running = await pg.start();
    expect(running.adopted).toBe(false);
    expect(postmasterPid()).not.toBe(process.pid);
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('re-initialises a cluster whose initialisation was interrupted', async () => {
    const cluster = path.join(dataDir, 'postgres');
    await fsp.mkdir(path.join(cluster, 'base'), { recursive: true });
    await fsp.writeFile(path.join(cluster, 'postgresql.conf'), 'half written');

    const running = await manager().start();
    expect(fs.existsSync(path.join(cluster, 'PG_VERSION'))).toBe(true);
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('resets the password when the password file was lost', async () => {
    const pg = manager();
    const first = await pg.start();
    await query(first.url, 'create table notes (body text)');
    await pg.stop();
    await fsp.rm(path.join(dataDir, 'postgres-password'));

    const second = await pg.start();
    expect(second.url).not.toBe(first.url);
    expect(await query(second.url, 'select count(*)::int as n from notes')).toEqual([{ n: 0 }]);
  });

  it('stop() is a no-op when nothing was ever started', async () => {
    await expect(manager().stop()).resolves.toBeUndefined();
  });
});
