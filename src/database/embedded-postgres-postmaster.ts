import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { isAuthError, withClient } from './embedded-postgres-connection';
import type { Paths } from './embedded-postgres-data-dir';
import { errCode, errMessage } from './embedded-postgres-errors';
import { logTail } from './embedded-postgres-log';

export interface PidFileInfo {
  pid: number;
  port: number | undefined;
  status: string;
}

export function readPidFile(pidFile: string): PidFileInfo | undefined {
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

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM';
  }
}

// 'ours': a postmaster serving this cluster; 'foreign': certainly something else (PID reused);
// 'unknown': cannot tell on this platform.
export async function postmasterOwnership(pid: number, cluster: string): Promise<'ours' | 'foreign' | 'unknown'> {
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

export async function waitForPostmaster(paths: Paths, pid: number, password: string, timeoutMs: number): Promise<number | undefined> {
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
      throw new Error(`PostgreSQL (pid ${pid}) is running on ${paths.cluster} but did not accept connections within ${timeoutMs / 1000}s (${lastError})` + logTail(paths.logFile));
    }
    await sleep(250);
  }
}

export async function probeUnverified(info: PidFileInfo, password: string): Promise<number | undefined> {
  if (!info.port) return undefined;
  try {
    await withClient(info.port, password, 'postgres', async () => undefined);
    return info.port;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
