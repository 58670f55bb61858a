import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres';
import { buildPaths } from '../../src/database/embedded-postgres-data-dir';
import { findFreePort } from '../../src/database/embedded-postgres-ports';
import { isAlive, readPidFile } from '../../src/database/embedded-postgres-postmaster';
import { waitFor } from './control-plane-process';
import { killAll, processesUnder } from './soak-processes';

/**
 * The soak's own PostgreSQL, on a data directory and port of its own. The e2e suite shares one
 * server among its files, so the soak never touches that one (nor DATABASE_URL): this is the
 * server it kills with -9 and starts again, on the same data directory and port, as a host
 * would after a crash.
 */
export class SoakPostgres {
  private constructor(
    private readonly server: EmbeddedPostgres,
    private readonly dataDir: string,
    readonly url: string,
    readonly port: number,
  ) {}

  static async start(): Promise<SoakPostgres> {
    const dataDir = mkdtempSync(join(tmpdir(), 'corral-soak-pg-'));
    // As root the server runs as the unprivileged postgres user, which must reach its data.
    chmodSync(dataDir, 0o755);
    const port = await findFreePort();
    const server = new EmbeddedPostgres({ dataDir, port });
    const running = await server.start();
    return new SoakPostgres(server, dataDir, running.url, running.port);
  }

  private get cluster(): string {
    return buildPaths(this.dataDir).cluster;
  }

  /** kill -9 of the postmaster, then waits (bounded) until its children noticed and exited too. */
  async kill9(): Promise<number> {
    const info = readPidFile(buildPaths(this.dataDir).pidFile);
    if (!info) throw new Error(`no postmaster.pid in ${this.cluster}: is the soak's PostgreSQL running?`);
    process.kill(info.pid, 'SIGKILL');
    // Backends that outlive the postmaster hold its shared memory, and a new postmaster refuses
    // to start beside them: they exit on their own once they notice it died. The postmaster
    // itself counts as alive until it is reaped, and a start would take it for running.
    await waitFor('the killed PostgreSQL processes to exit', () => !isAlive(info.pid) && processesUnder(this.cluster).length === 0, 30_000, 100);
    return info.pid;
  }

  /** Starts the server again on the same data directory and port: it runs crash recovery first. */
  async restart(): Promise<void> {
    await waitFor('the soak PostgreSQL to start again', () => this.server.start().then(() => this.answers()), 90_000, 500);
  }

  private async answers(): Promise<boolean> {
    const client = new Client({ connectionString: this.url });
    await client.connect();
    try {
      return (await client.query('SELECT 1 AS one')).rows[0].one === 1;
    } finally {
      await client.end();
    }
  }

  /** The server's own log (crash recovery and all), for the soak's logs. */
  log(): string {
    const file = buildPaths(this.dataDir).logFile;
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  async stop(): Promise<void> {
    try {
      await this.server.stop();
    } finally {
      killAll(processesUnder(this.cluster));
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}
