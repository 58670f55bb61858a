import { existsSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';

/**
 * Pids of every process whose working directory is `dir` or lies under it. PostgreSQL's
 * processes all chdir into their cluster, and an agent's jobs run in `<state dir>/work/…`: this
 * finds what a kill -9 left behind (backends that have not noticed yet, jobs whose agent died).
 */
export function processesUnder(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const root = realpathSync(dir);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === root || cwd.startsWith(root + sep)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** SIGKILL to each of `pids` still alive. */
export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
}
