import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { run } from './embedded-postgres-command';

const RUN_AS_USER = 'postgres';

export interface RunAs {
  uid: number;
  gid: number;
}

export async function ensureUnprivilegedUser(log: (line: string) => void): Promise<RunAs> {
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
export function assertAccessible(runAs: RunAs, targets: string[]): void {
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

export async function ensureOwnedBy(dir: string, runAs: RunAs, log: (line: string) => void): Promise<void> {
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
