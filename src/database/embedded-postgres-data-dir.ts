import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { errCode } from './embedded-postgres-errors';

export interface Paths {
  dataDir: string;
  cluster: string;
  initTmp: string;
  pwfileTmp: string;
  passwordFile: string;
  portFile: string;
  logFile: string;
  pidFile: string;
}

export function buildPaths(dataDir: string): Paths {
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

// PostgreSQL refuses data directories readable by others (0700 or 0750 only).
export async function fixClusterMode(cluster: string): Promise<void> {
  const st = await fsp.stat(cluster);
  const mode = st.mode & 0o777;
  if (mode !== 0o700 && mode !== 0o750) await fsp.chmod(cluster, 0o700);
}

export async function readPassword(file: string): Promise<string | undefined> {
  try {
    const password = (await fsp.readFile(file, 'utf8')).trim();
    return password || undefined;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
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

export async function fsyncDir(dir: string): Promise<void> {
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

export async function removeFile(file: string): Promise<void> {
  await fsp.rm(file, { force: true });
}
