import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { LocalPolicy } from '../../src/protocol/messages';
import type { Logger } from './log';

/** Watches one directory; the listener gets the name of what changed in it (null when the platform does not say). */
export type WatchDirectory = (dir: string, listener: (filename: string | null) => void) => { close(): void };

export interface PolicyWatcherOptions {
  /** The policy files, most specific first; their directories are watched, since editors replace files rather than write them. */
  paths: string[];
  /** The policy as it is now; must not throw (a file that cannot be used is a policy refusing all work). */
  read: () => LocalPolicy;
  /** The policy differs from the last one seen. */
  changed: (policy: LocalPolicy, previous: LocalPolicy) => void;
  logger: Logger;
  /** The files are re-read this often too: fs.watch misses changes on some file systems (NFS, some containers). */
  intervalMs?: number;
  /** A save comes as a burst of events (truncate, write, rename): the files are read once, this long after the first. */
  settleMs?: number;
  watch?: WatchDirectory;
}

export const POLICY_CHECK_INTERVAL_MS = 2_000;
const SETTLE_MS = 50;

const watchDirectory: WatchDirectory = (dir, listener) => {
  const watcher = watch(dir, { persistent: false }, (_event, filename) => listener(filename === null ? null : String(filename)));
  // The directory went away (or the watch broke): the periodic re-read still sees what happens next.
  watcher.on('error', () => watcher.close());
  return watcher;
};

/** Two policies are the same when every field is: JSON of objects built in one key order. */
function keyOf(policy: LocalPolicy): string {
  return JSON.stringify(policy);
}

/**
 * Notices when the host's local policy changes while the agent runs, so that the control plane
 * hears of it at once instead of at the next restart: an fs.watch on the policy files'
 * directories, a cheap re-read every couple of seconds for when that misses, and a read before
 * every offer (`check`). Whatever happens to the files (removed, invalid, unreadable), it never
 * throws: the change is reported, and an unusable policy refuses all work.
 */
export class PolicyWatcher {
  private current: LocalPolicy;
  private key: string;
  private timer: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private watchers: { close(): void }[] = [];
  private closed = false;

  constructor(
    initial: LocalPolicy,
    private readonly options: PolicyWatcherOptions,
  ) {
    this.current = initial;
    this.key = keyOf(initial);
  }

  /** The policy as last read. */
  get policy(): LocalPolicy {
    return this.current;
  }

  start(): void {
    const { paths, logger } = this.options;
    const names = new Set(paths.map((p) => basename(p)));
    const watchFn = this.options.watch ?? watchDirectory;
    for (const dir of new Set(paths.map((p) => dirname(p)))) {
      try {
        this.watchers.push(watchFn(dir, (filename) => (filename === null || names.has(filename) ? this.soon() : undefined)));
      } catch (err) {
        // Typically /etc/corral does not exist: a policy file created there later is found by the re-read.
        logger.debug(`cannot watch ${dir} for local policy changes (${(err as Error).message}); re-reading it every ${this.interval / 1000} s instead`);
      }
    }
    this.timer = setInterval(() => this.check(), this.interval);
    this.timer.unref();
  }

  /** Reads the policy now; when it changed, says so (once) before returning it. */
  check(): LocalPolicy {
    if (this.closed) return this.current;
    let now: LocalPolicy;
    try {
      now = this.options.read();
    } catch (err) {
      // `read` should not throw; if it does, the last policy stands and the next read tries again.
      this.options.logger.warn(`cannot re-read the local policy: ${(err as Error).message}`);
      return this.current;
    }
    const key = keyOf(now);
    if (key === this.key) return this.current;
    const previous = this.current;
    this.current = now;
    this.key = key;
    try {
      this.options.changed(now, previous);
    } catch (err) {
      this.options.logger.error(`reporting the local policy change failed: ${(err as Error).message}`);
    }
    return now;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.settle);
    for (const w of this.watchers.splice(0)) w.close();
  }

  private get interval(): number {
    return this.options.intervalMs ?? POLICY_CHECK_INTERVAL_MS;
  }

  private soon() {
    if (this.settle || this.closed) return;
    this.settle = setTimeout(() => {
      this.settle = undefined;
      this.check();
    }, this.options.settleMs ?? SETTLE_MS);
    this.settle.unref();
  }
}
