import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { type Binaries, childEnv, locatePlatformPackage, prepareBinaries } from './embedded-postgres-binaries';
import { type RunOptions, run } from './embedded-postgres-command';
import { HOST, SUPERUSER, buildUrl, ensureDatabase, socketFits, socketUrl } from './embedded-postgres-connection';
import { type Paths, buildPaths, fixClusterMode, fsyncDir, readPassword, removeFile, writeFileAtomic } from './embedded-postgres-data-dir';
import { LOG_TAIL_LINES, fileSize, formatTail, logTail, oneLine, prepareLogFile, readFrom, tailLines, tailOfFile } from './embedded-postgres-log';
import { findFreePort, isPortFree, readPortFile } from './embedded-postgres-ports';
import { isAlive, postmasterOwnership, probeUnverified, readPidFile, waitForPostmaster } from './embedded-postgres-postmaster';
import { type RunAs, assertAccessible, ensureOwnedBy, ensureUnprivilegedUser } from './embedded-postgres-run-as';

export interface EmbeddedPostgresOptions {
  /** The cluster lives in `${dataDir}/postgres`; directories are created as needed. */
  dataDir: string;
  /** 0 or undefined picks a free TCP port (reusing the previous one when it is still free). */
  port?: number;
  /** Receives progress lines. */
  log?: (line: string) => void;
}

export interface RunningPostgres {
  /** Over TCP on 127.0.0.1: for anyone (psql, other tools). */
  url: string;
  /**
   * The same server through its unix-domain socket in the cluster directory, when it has one:
   * for processes on this host. A round trip over it costs a fraction of one over TCP loopback.
   */
  socketUrl: string | undefined;
  port: number;
  dataDir: string;
  /** True when a server left running by an earlier process was taken over instead of started. */
  adopted: boolean;
}

const START_TIMEOUT_S = 60;
const STOP_TIMEOUT_S = 60;

export class EmbeddedPostgres {
  private readonly paths: Paths;
  private readonly requestedPort: number | undefined;
  private readonly log: (line: string) => void;
  private running: RunningPostgres | undefined;
  private starting: Promise<RunningPostgres> | undefined;
  private binaries: Binaries | undefined;
  private runAs: RunAs | undefined;
  private runAsResolved = false;

  constructor(options: EmbeddedPostgresOptions) {
    if (!options.dataDir) throw new Error('EmbeddedPostgres: dataDir is required');
    if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) {
      throw new Error(`EmbeddedPostgres: invalid port ${options.port}`);
    }
    this.paths = buildPaths(path.resolve(options.dataDir));
    this.requestedPort = options.port ? options.port : undefined;
    this.log = options.log ?? (() => undefined);
  }

  start(): Promise<RunningPostgres> {
    if (this.running && this.serverAlive()) return Promise.resolve(this.running);
    this.running = undefined;
    if (!this.starting) {
      this.starting = this.doStart()
        .then((running) => {
          this.running = running;
          return running;
        })
        .finally(() => {
          this.starting = undefined;
        });
    }
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    this.running = undefined;
    const before = readPidFile(this.paths.pidFile);
    if (!before || !isAlive(before.pid)) return;
    // pg_ctl would signal whatever process now has that PID; never hit an unrelated one.
    if ((await postmasterOwnership(before.pid, this.paths.cluster)) === 'foreign') return;

    const bins = this.getBinaries();
    const runAs = await this.getRunAs();
    this.log(`stopping PostgreSQL (pid ${before.pid})`);
    const result = await run(bins.pgCtl, ['stop', '-D', this.paths.cluster, '-m', 'fast', '-w', '-t', String(STOP_TIMEOUT_S)], {
      ...this.spawnOptions(bins, runAs),
      timeoutMs: (STOP_TIMEOUT_S + 30) * 1000,
    });
    // pg_ctl also fails when the server went away on its own meanwhile; only a survivor is an error.
    const after = readPidFile(this.paths.pidFile);
    if (result.code !== 0 && after && after.pid === before.pid && isAlive(after.pid)) {
      throw new Error(`failed to stop PostgreSQL in ${this.paths.cluster}: ${oneLine(result.stderr || result.stdout)}` + logTail(this.paths.logFile));
    }
  }

  private serverAlive(): boolean {
    const info = readPidFile(this.paths.pidFile);
    return info !== undefined && isAlive(info.pid);
  }

  private async doStart(): Promise<RunningPostgres> {
    const { paths } = this;
    await fsp.mkdir(paths.dataDir, { recursive: true });
    const bins = this.getBinaries();
    const runAs = await this.getRunAs();
    if (runAs) assertAccessible(runAs, [paths.dataDir, bins.postgres]);

    const adopted = await this.tryAdopt();
    if (adopted) return adopted;

    if (!fs.existsSync(path.join(paths.cluster, 'PG_VERSION'))) {
      await this.initCluster(bins, runAs);
    } else if (runAs) {
      await ensureOwnedBy(paths.cluster, runAs, this.log);
    }
    await fixClusterMode(paths.cluster);

    const password = await this.ensurePassword(bins, runAs);
    await prepareLogFile(paths.logFile, runAs);
    const port = await this.startServer(bins, runAs);
    await fsp.writeFile(paths.portFile, `${port}\n`);
    await ensureDatabase(port, password, paths.logFile);
    this.log(`PostgreSQL ready on ${HOST}:${port}`);
    return { url: buildUrl(port, password), socketUrl: socketUrl(paths.cluster, port, password), port, dataDir: paths.dataDir, adopted: false };
  }

  // A server can outlive the process that started it (kill -9, crash); taking it over beats
  // failing on the lock file or starting a second server on the same cluster.
  private async tryAdopt(): Promise<RunningPostgres | undefined> {
    const { paths } = this;
    const info = readPidFile(paths.pidFile);
    if (!info) return undefined;
    if (!isAlive(info.pid)) {
      this.log(`found stale postmaster.pid (pid ${info.pid} is not running); PostgreSQL will recover`);
      return undefined;
    }
    const owner = await postmasterOwnership(info.pid, paths.cluster);
    if (owner === 'foreign') {
      this.log(`removing stale postmaster.pid (pid ${info.pid} is an unrelated process)`);
      await removeFile(paths.pidFile);
      return undefined;
    }

    const password = await readPassword(paths.passwordFile);
    if (password === undefined) {
      throw new Error(
        `PostgreSQL (pid ${info.pid}) is already running on ${paths.cluster} but ${paths.passwordFile} is missing; ` +
          `stop that server (pg_ctl stop -D ${paths.cluster}) and start again to reset the password`,
      );
    }
    this.log(`adopting running PostgreSQL (pid ${info.pid})`);
    const port = owner === 'ours' ? await waitForPostmaster(paths, info.pid, password, START_TIMEOUT_S * 1000) : await probeUnverified(info, password);
    // Unverifiable and unreachable: let the start attempt decide whether the pid file is stale.
    if (port === undefined) return undefined;
    if (this.requestedPort && this.requestedPort !== port) {
      this.log(`running server listens on port ${port}, not the requested ${this.requestedPort}; keeping it`);
    }
    await fsp.writeFile(paths.portFile, `${port}\n`);
    await ensureDatabase(port, password, paths.logFile);
    this.log(`PostgreSQL ready on ${HOST}:${port} (adopted)`);
    return { url: buildUrl(port, password), socketUrl: socketUrl(paths.cluster, port, password), port, dataDir: paths.dataDir, adopted: true };
  }

  // initdb runs in a scratch directory that is renamed into place only when complete, so an
  // interrupted init can never leave a half-built cluster that looks valid.
  private async initCluster(bins: Binaries, runAs: RunAs | undefined): Promise<void> {
    const { paths } = this;
    if (fs.existsSync(paths.cluster)) {
      this.log(`removing incomplete cluster directory ${paths.cluster} (no PG_VERSION)`);
      await fsp.rm(paths.cluster, { recursive: true, force: true });
    }
    await fsp.rm(paths.initTmp, { recursive: true, force: true });
    await fsp.mkdir(paths.initTmp, { mode: 0o700 });

    const password = randomBytes(24).toString('base64url');
    await writeFileAtomic(paths.passwordFile, `${password}\n`, 0o600);
    // The password file stays private to the current user; initdb gets its own short-lived copy.
    await removeFile(paths.pwfileTmp);
    await fsp.writeFile(paths.pwfileTmp, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await fsp.chown(paths.initTmp, runAs.uid, runAs.gid);
      await fsp.chown(paths.pwfileTmp, runAs.uid, runAs.gid);
    }

    this.log(`initialising database cluster in ${paths.cluster}`);
    try {
      const result = await run(bins.initdb, ['-D', paths.initTmp, '-U', SUPERUSER, '-E', 'UTF8', '--locale=C', '--auth=scram-sha-256', `--pwfile=${paths.pwfileTmp}`, '--no-instructions'], {
        ...this.spawnOptions(bins, runAs),
        timeoutMs: 5 * 60 * 1000,
      });
      if (result.code !== 0) {
        throw new Error(`initdb failed (exit ${result.code}) for ${paths.cluster}: ${tailLines(result.stderr || result.stdout, 6)}`);
      }
    } finally {
      await removeFile(paths.pwfileTmp);
    }
    await fsp.rename(paths.initTmp, paths.cluster);
    await fsyncDir(paths.dataDir);
  }

  // Without the password file the cluster would be unreachable; single-user mode can reset it
  // because it needs no authentication, only ownership of the files.
  private async ensurePassword(bins: Binaries, runAs: RunAs | undefined): Promise<string> {
    const existing = await readPassword(this.paths.passwordFile);
    if (existing !== undefined) return existing;

    this.log(`${this.paths.passwordFile} is missing; resetting the ${SUPERUSER} password`);
    const password = randomBytes(24).toString('base64url');
    const result = await run(bins.postgres, ['--single', '-D', this.paths.cluster, '-c', 'unix_socket_directories=', '-c', 'listen_addresses=', 'postgres'], {
      ...this.spawnOptions(bins, runAs),
      input: `ALTER ROLE ${SUPERUSER} PASSWORD '${password}';\n`,
      timeoutMs: 120_000,
    });
    if (result.code !== 0 || /\b(ERROR|FATAL|PANIC):/.test(result.stderr)) {
      throw new Error(`could not reset the ${SUPERUSER} password in ${this.paths.cluster}: ${tailLines(result.stderr, 6)}`);
    }
    await writeFileAtomic(this.paths.passwordFile, `${password}\n`, 0o600);
    return password;
  }

  private async startServer(bins: Binaries, runAs: RunAs | undefined): Promise<number> {
    const { paths } = this;
    let port = await this.choosePort();
    let removedPidFile = false;
    let changedPort = false;

    for (;;) {
      const logOffset = fileSize(paths.logFile);
      this.log(`starting PostgreSQL on ${HOST}:${port}`);
      const options = [
        `-c listen_addresses=${HOST}`,
        `-c port=${port}`,
        // The socket lives in the cluster directory, which the server user owns (nothing depends
        // on /tmp or /var/run); none where its path would be too long for a socket address.
        `-c unix_socket_directories='${socketFits(paths.cluster, port) ? paths.cluster : ''}'`,
        '-c max_connections=200',
      ].join(' ');
      const result = await run(bins.pgCtl, ['start', '-w', '-t', String(START_TIMEOUT_S), '-D', paths.cluster, '-l', paths.logFile, '-o', options], {
        ...this.spawnOptions(bins, runAs),
        timeoutMs: (START_TIMEOUT_S + 30) * 1000,
      });
      if (result.code === 0) return port;

      const newLog = readFrom(paths.logFile, logOffset);
      if (!removedPidFile && /lock file "postmaster\.pid" already exists/.test(newLog)) {
        const info = readPidFile(paths.pidFile);
        if (!info || (await postmasterOwnership(info.pid, paths.cluster)) !== 'ours') {
          this.log('removing stale postmaster.pid and retrying');
          await removeFile(paths.pidFile);
          removedPidFile = true;
          continue;
        }
      }
      if (!changedPort && !this.requestedPort && /Address already in use|could not create any TCP\/IP sockets/.test(newLog)) {
        port = await findFreePort();
        changedPort = true;
        continue;
      }
      throw new Error(
        `PostgreSQL failed to start in ${paths.cluster} on port ${port}: ${oneLine(result.stderr || result.stdout)}` +
          formatTail(tailLines(newLog, LOG_TAIL_LINES) || tailOfFile(paths.logFile), paths.logFile),
      );
    }
  }

  private async choosePort(): Promise<number> {
    if (this.requestedPort) return this.requestedPort;
    const previous = readPortFile(this.paths.portFile);
    if (previous && (await isPortFree(previous))) return previous;
    return findFreePort();
  }

  private getBinaries(): Binaries {
    if (!this.binaries) this.binaries = prepareBinaries(locatePlatformPackage(), process.getuid?.() === 0);
    return this.binaries;
  }

  private async getRunAs(): Promise<RunAs | undefined> {
    if (!this.runAsResolved) {
      this.runAs = process.getuid?.() === 0 ? await ensureUnprivilegedUser(this.log) : undefined;
      this.runAsResolved = true;
    }
    return this.runAs;
  }

  private spawnOptions(bins: Binaries, runAs: RunAs | undefined): RunOptions {
    // The cwd must be reachable by the server user; the data dir has been checked to be.
    return { runAs, cwd: this.paths.dataDir, env: childEnv(bins) };
  }
}
