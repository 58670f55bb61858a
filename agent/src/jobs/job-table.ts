import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { JobExecution } from './job-kinds';
import type { Ledger, LedgerEntry } from './ledger';
import type { LogSpool } from './log-spool';

/** What the agent holds in memory about one job attempt it has not forgotten yet. */
export interface Job {
  jobId: string;
  attempt: number;
  spool: LogSpool | null;
  /** What runs the job once it has started: a script's process, or the agent's own check. */
  runner: JobExecution | null;
  /** The server said gone: stop it, report nothing. */
  dropped: boolean;
  /** When the finish was last sent on the current connection. */
  finishSentAt: number | null;
  acceptedAt: number;
}

// Never sent as-is: the server refuses fields longer than the protocol allows.
export function clip(text: string | null, max: number): string | null {
  return text === null ? null : text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function label(entry: Pick<LedgerEntry, 'jobId' | 'attempt' | 'name'>): string {
  return `job ${entry.jobId} attempt ${entry.attempt}${entry.name ? ` ("${entry.name}")` : ''}`;
}

/**
 * The jobs the agent is dealing with, beside their durable ledger entries: each attempt's spool
 * and runner, and whoever waits for a job to change (shutdown). The ledger says what a job is;
 * this says what the agent is doing about it.
 */
export class JobTable {
  private readonly jobs = new Map<string, Job>();
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly ledger: Ledger,
    readonly workRoot: string,
    private readonly now: () => number,
  ) {}

  get(jobId: string): Job | undefined {
    return this.jobs.get(jobId);
  }

  set(job: Job): Job {
    this.jobs.set(job.jobId, job);
    return job;
  }

  delete(jobId: string): void {
    this.jobs.delete(jobId);
  }

  all(): Job[] {
    return [...this.jobs.values()];
  }

  newJob(entry: LedgerEntry): Job {
    const acceptedAt = Date.parse(entry.updatedAt);
    return { jobId: entry.jobId, attempt: entry.attempt, spool: null, runner: null, dropped: false, finishSentAt: null, acceptedAt: Number.isNaN(acceptedAt) ? this.now() : acceptedAt };
  }

  /** The job's ledger entry, when it is still about this attempt. */
  entry(job: Job): LedgerEntry | undefined {
    const entry = this.ledger.get(job.jobId);
    return entry && entry.attempt === job.attempt ? entry : undefined;
  }

  /** Jobs accepted or with a process running: what counts against `maxJobs`. */
  get load(): number {
    let n = 0;
    for (const job of this.jobs.values()) if (!job.dropped && (this.entry(job)?.state === 'accepted' || job.runner?.running)) n++;
    return n;
  }

  /** Started and not finished yet (running, or its output still draining). */
  unsettled(): Job[] {
    return this.all().filter((j) => !j.dropped && this.entry(j)?.state === 'running');
  }

  /** Finished and not yet acknowledged by the server. */
  unreported(): Job[] {
    return this.all().filter((j) => !j.dropped && this.entry(j)?.state === 'finished');
  }

  /** Drops the in-memory job, its spool file and its working directory; the ledger entry stays. */
  forget(job: Job): void {
    job.runner?.dispose();
    this.jobs.delete(job.jobId);
    try {
      if (job.spool) unlinkSync(job.spool.path);
    } catch {
      // already gone
    }
    rmSync(join(this.workRoot, `${job.jobId}-${job.attempt}`), { recursive: true, force: true });
    this.wake();
  }

  /** Tells whoever waits that a job changed. */
  wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves when `condition` holds (checked whenever a job changes) or after `ms`. */
  waitUntil(condition: () => boolean, ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (condition()) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (condition()) done();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(check);
    });
  }
}
