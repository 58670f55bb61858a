import os from 'node:os';
import { join } from 'node:path';
import {
  MAX_JOBS_PER_AGENT,
  type JobCancelPayload,
  type JobFinishAck,
  type JobGone,
  type JobLogAck,
  type JobOfferPayload,
  type JobStart,
  type LocalPolicy,
  type ScriptSyntax,
} from '../../../src/protocol/messages';
import type { Logger } from '../log';
import type { HostUser } from '../policy';
import type { ExecutionResult } from './job-kinds';
import { JobOutbox, type JobLink } from './job-outbox';
import type { Interpreter, RunnerTimings } from './job-runner';
import { drainJobs, terminateJobs } from './job-shutdown';
import { JobStarter } from './job-start';
import { clip, JobTable, label, type Job } from './job-table';
import { Ledger, type FinishRecord, type LedgerEntry } from './ledger';
import { LogSpool, type SpoolOptions } from './log-spool';
import { SpoolBudget } from './spool-budget';
import { formatBytes } from '../../../src/protocol/byte-size';
import { judgeJob, OfferIntake } from './offer-intake';

export type { JobLink } from './job-outbox';

export interface JobManagerTimings {
  spool: Partial<SpoolOptions>;
  runner: Partial<RunnerTimings>;
  /** How often the manager looks at heartbeats, resends and expiries. */
  tickMs: number;
  /** An unacknowledged finish is sent again this often. */
  finishResendMs: number;
  /** Log chunks out this long without any acknowledgement are sent again. */
  logStallMs: number;
  /** An accepted job that gets no start within this long is dropped. */
  acceptExpiryMs: number;
  /** On agent stop, running jobs get this long to end on their own before they are cancelled. */
  shutdownGraceMs: number;
  /** ... then SIGTERM, and SIGKILL after this long. */
  shutdownKillGraceMs: number;
  /** ... then this long to report what ended. */
  shutdownReportMs: number;
  /** A stopped job (`server.job.gone`, or the agent being revoked) gets this long between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** Ledger entries untouched this long are forgotten; offers issued longer ago than this are refused. */
  retentionMs: number;
}

export const DEFAULT_JOB_TIMINGS: JobManagerTimings = {
  spool: {},
  runner: {},
  tickMs: 1_000,
  finishResendMs: 30_000,
  logStallMs: 30_000,
  acceptExpiryMs: 10 * 60_000,
  shutdownGraceMs: 10_000,
  shutdownKillGraceMs: 5_000,
  shutdownReportMs: 5_000,
  killGraceMs: 10_000,
  retentionMs: 7 * 24 * 60 * 60_000,
};

export interface JobManagerOptions {
  stateDir: string;
  agentId: string;
  agentName: string;
  maxJobs: number;
  /** The local policy as it is now (re-read for every offer); may throw when the file became invalid. */
  policy: () => LocalPolicy;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  host?: HostUser;
  passwdPath?: string;
  interpreters?: Record<ScriptSyntax, Interpreter>;
  /** The most unsent output kept on disk over all jobs (`--spool-max-bytes`); past it the oldest is dropped. None: no cap. */
  spoolMaxBytes?: number;
  timings?: Partial<JobManagerTimings>;
  now?: () => number;
}

function hostUser(): HostUser {
  const uid = process.getuid?.() ?? -1;
  try {
    return { uid, name: os.userInfo().username };
  } catch {
    return { uid, name: `uid ${uid}` };
  }
}

/**
 * The agent's side of the job protocol: takes offers (ledger, policy, capacity), starts jobs
 * when the server confirms the lease, streams their logs, heartbeats, cancels, reports the
 * outcome until the server acknowledges it, and re-sends whatever is outstanding after every
 * reconnect. The connection loop feeds it messages and tells it when a link comes and goes.
 *
 * The pieces: `OfferIntake` (offer-intake.ts) decides on offers, `JobStarter` (job-start.ts)
 * starts a job by its kind, `JobOutbox` (job-outbox.ts) sends and re-sends, job-shutdown.ts
 * stops; this class owns the jobs' lifecycle after the start (cancel, gone, finish, forget).
 */
export class JobManager {
  readonly ledger: Ledger;
  readonly workRoot: string;
  private readonly timings: JobManagerTimings;
  private readonly now: () => number;
  private readonly host: HostUser;
  private readonly table: JobTable;
  private readonly outbox: JobOutbox;
  private readonly intake: OfferIntake;
  private readonly starter: JobStarter;
  /** What every spool is made with: the timings, and the agent-wide cap. */
  private readonly spoolOptions: Partial<SpoolOptions>;
  private ticker: NodeJS.Timeout | undefined;
  private lastPruneAt = 0;
  private stopping = false;
  private draining: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: JobManagerOptions) {
    if (!Number.isInteger(options.maxJobs) || options.maxJobs < 1 || options.maxJobs > MAX_JOBS_PER_AGENT) throw new Error(`maxJobs must be 1..${MAX_JOBS_PER_AGENT}`);
    this.timings = { ...DEFAULT_JOB_TIMINGS, ...options.timings };
    this.now = options.now ?? Date.now;
    this.host = options.host ?? hostUser();
    this.ledger = new Ledger(options.stateDir, this.now);
    this.workRoot = join(options.stateDir, 'work');
    this.table = new JobTable(this.ledger, this.workRoot, this.now);
    this.outbox = new JobOutbox(this.table, this.timings, this.now);
    const budget = options.spoolMaxBytes === undefined ? undefined : new SpoolBudget(options.spoolMaxBytes, (d) => this.spoolDropped(d.spool, d.chunks, d.bytes, d.capBytes));
    this.spoolOptions = { ...this.timings.spool, ...(budget ? { budget } : {}) };
    const judge = (offer: JobOfferPayload) => judgeJob(offer, options.policy, this.host, options.passwdPath);
    const stopping = () => this.stopping;
    this.intake = new OfferIntake({
      table: this.table,
      outbox: this.outbox,
      logger: options.logger,
      maxJobs: options.maxJobs,
      retentionMs: this.timings.retentionMs,
      now: this.now,
      judge,
      stopping,
    });
    this.starter = new JobStarter({
      table: this.table,
      outbox: this.outbox,
      logger: options.logger,
      stateDir: options.stateDir,
      agentId: options.agentId,
      agentName: options.agentName,
      env: options.env,
      interpreters: options.interpreters,
      spool: this.spoolOptions,
      runner: this.timings.runner,
      now: this.now,
      judge,
      stopping,
      cancelled: (jobId, attempt, message) => this.recordCancelled(jobId, attempt, message),
      finished: (job, result, logChunks) => this.finished(job, result, logChunks),
      ended: (job, result) => this.processEnded(job, result),
      changed: () => this.tick(),
    });
  }

  /**
   * Loads the ledger. Jobs that were running when the agent stopped cannot be re-attached: they
   * are marked abandoned and never run again (the server's lease lapses and it marks them
   * unknown). Accepted jobs wait to re-send their accept; finished ones to re-send their finish.
   */
  init(): void {
    const { logger } = this.options;
    this.ledger.load();
    for (const id of this.ledger.damaged) logger.warn(`the ledger entry of job ${id} is unreadable; that job will never run on this agent`);
    for (const entry of this.ledger.all()) {
      if (entry.state === 'running') {
        logger.warn(
          `${label(entry)} was running when the agent stopped${entry.pid ? ` (process group ${entry.pid} may still be running)` : ''}; it cannot be re-attached and will not run again; the control plane will mark it unknown when its lease lapses`,
        );
        this.ledger.transition(entry.jobId, 'abandoned');
      } else if (entry.state === 'accepted') {
        this.table.set(this.table.newJob(entry));
      } else if (entry.state === 'finished') {
        const job = this.table.set(this.table.newJob(entry));
        if (entry.started) job.spool = LogSpool.reopen(this.ledger.spoolPath(entry.jobId, entry.attempt), entry, () => this.outbox.schedulePump(), this.spoolOptions, this.now);
      }
    }
    this.prune();
    this.ticker = setInterval(() => this.tick(), this.timings.tickMs);
    this.ticker.unref();
  }

  /** A connection is up: re-send accepts, a heartbeat, unacknowledged chunks and finishes. */
  connected(link: JobLink): void {
    this.outbox.connected(link);
  }

  /** The connection is gone: whatever was in flight is sent again on the next one. */
  disconnected(): void {
    this.outbox.disconnected();
  }

  /** Jobs accepted or with a process running: what counts against `maxJobs`. */
  get load(): number {
    return this.table.load;
  }

  /** A verified offer (the connection checked the signature and that the agent is approved). */
  offer(offer: JobOfferPayload): void {
    this.intake.offer(offer);
  }

  /** A verified cancel. */
  cancel(cancel: JobCancelPayload): void {
    const { logger } = this.options;
    const entry = this.ledger.get(cancel.jobId);
    const message = clip(`cancelled: ${cancel.reason || 'no reason given'}`, 1000);
    if (!entry) {
      if (this.ledger.knows(cancel.jobId)) return;
      // Recorded so that a late offer or start for it can never run it.
      logger.info(`job ${cancel.jobId} attempt ${cancel.attempt} was cancelled before this agent had it; recorded so it never starts`);
      this.recordCancelled(cancel.jobId, cancel.attempt, message);
      return;
    }
    if (cancel.attempt < entry.attempt) return logger.debug(`ignored a cancel for an older attempt of ${label(entry)}`);
    if (cancel.attempt > entry.attempt) {
      if (entry.started || (entry.state !== 'accepted' && entry.state !== 'dropped'))
        return logger.warn(`ignored a cancel for attempt ${cancel.attempt} of job ${cancel.jobId}: this agent has attempt ${entry.attempt}`);
      this.recordCancelled(cancel.jobId, cancel.attempt, message);
      return;
    }
    const job = this.table.get(entry.jobId);
    if (entry.state === 'accepted') {
      logger.info(`${label(entry)} was cancelled before it started`);
      this.recordCancelled(entry.jobId, entry.attempt, message);
      return;
    }
    if (entry.state === 'running' && job?.runner?.running) {
      logger.info(`cancelling ${label(entry)}: ${cancel.reason}`);
      job.runner.stop('cancelled', cancel.graceSeconds * 1000, `cancel requested${cancel.reason ? ` (${cancel.reason})` : ''}: SIGTERM sent to process group`, message ?? 'cancelled');
      return;
    }
    if (entry.state === 'finished' && job) this.outbox.resendFinish(job); // the server may not have the outcome: tell it again
  }

  /** start, gone, logAck and finishAck. */
  handle(message: JobStart | JobGone | JobLogAck | JobFinishAck): void {
    const entry = this.ledger.get(message.jobId);
    if (!entry) {
      if (message.type === 'server.job.start') this.options.logger.warn(`ignored a start for job ${message.jobId}, which this agent did not accept`);
      return;
    }
    if (entry.attempt !== message.attempt)
      return this.options.logger.debug(`ignored ${message.type} for attempt ${message.attempt} of job ${message.jobId}: this agent has attempt ${entry.attempt}`);
    switch (message.type) {
      case 'server.job.start':
        return this.starter.start(entry, message.leaseSeconds);
      case 'server.job.gone':
        return this.gone(entry, message.reason);
      case 'server.job.logAck': {
        const job = this.table.get(entry.jobId);
        if (!job?.spool || job.dropped) return;
        job.spool.ack(message.nextSeq);
        this.outbox.pump();
        return;
      }
      case 'server.job.finishAck':
        return this.finishAcked(entry);
    }
  }

  /** A `server.error` about a job message. */
  serverError(code: string, message: string, jobId: string | null): void {
    this.options.logger.warn(`the control plane could not act on a job message${jobId ? ` about job ${jobId}` : ''}: ${code}: ${message}`);
  }

  /**
   * Graceful stop: refuse new offers, give running jobs `shutdownGraceMs` to end, cancel the
   * rest ("agent stopping"), then try for `shutdownReportMs` to report. Accepted jobs that
   * never started stay in the ledger; the next run re-sends their accept.
   */
  drain(): Promise<void> {
    if (this.draining) return this.draining;
    this.stopping = true;
    this.draining = drainJobs(this.table, this.shutdownTimings(), this.options.logger);
    return this.draining;
  }

  /** Stops every running job now (SIGTERM, then SIGKILL after `killGraceMs`), e.g. when the agent was revoked; reports nothing. */
  async terminate(reason: string): Promise<void> {
    this.stopping = true;
    await terminateJobs(this.table, this.shutdownTimings(), this.options.logger, reason);
  }

  /** Releases timers and files; running processes are left alone (call drain or terminate first). */
  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.outbox.close();
    for (const job of this.table.all()) {
      job.runner?.dispose();
      job.spool?.close();
    }
    this.table.wake();
  }

  /** Process group ids of jobs still running (for tests and diagnostics). */
  runningPids(): number[] {
    return this.table.all().flatMap((j) => (j.runner?.running && j.runner.pid ? [j.runner.pid] : []));
  }

  // ---- after the start ---------------------------------------------------------------

  private spoolDropped(spool: string, chunks: number, bytes: number, capBytes: number) {
    this.options.logger.warn(
      `dropped the oldest ${formatBytes(bytes)} (${chunks} chunk${chunks === 1 ? '' : 's'}) of unsent output of ${spool}: the log spools reached their ${formatBytes(capBytes)} cap (--spool-max-bytes) while the control plane was unreachable; the job keeps running and its log will say what is missing`,
    );
  }

  private processEnded(job: Job, result: ExecutionResult) {
    if (this.closed) return; // the agent is exiting; the ledger keeps the job as running (abandoned at the next start)
    if (this.table.entry(job)?.state !== 'running' && !job.dropped) return; // already settled (e.g. refused at start)
    const spool = job.spool;
    spool?.end();
    if (job.dropped) {
      spool?.close();
      this.table.forget(job);
      return;
    }
    this.finished(job, result, spool?.count ?? 0);
  }

  private finished(job: Job, result: ExecutionResult, logChunks: number) {
    const finish: FinishRecord = {
      outcome: result.outcome,
      exitCode: result.exitCode,
      signal: clip(result.signal, 20),
      message: clip(result.message, 1000),
      logChunks,
      result: result.result ?? null,
      ...(result.outputs?.length ? { outputs: result.outputs } : {}),
    };
    try {
      this.ledger.transition(job.jobId, 'finished', { finish });
    } catch (err) {
      this.options.logger.error(`cannot record the outcome of job ${job.jobId} in the ledger: ${(err as Error).message}`);
    }
    this.options.logger.info(`job ${job.jobId} attempt ${job.attempt} ${result.outcome}${result.message ? ` (${result.message})` : ''}`);
    this.table.wake();
    this.outbox.pump();
  }

  private recordCancelled(jobId: string, attempt: number, message: string | null) {
    try {
      const entry = this.ledger.recordCancelled(jobId, attempt, message);
      const job = this.table.get(jobId);
      if (job && job.attempt === attempt) {
        job.finishSentAt = null;
      } else {
        this.table.set(this.table.newJob(entry));
      }
    } catch (err) {
      this.options.logger.error(`cannot record the cancel of job ${jobId} in the ledger: ${(err as Error).message}`);
      return;
    }
    this.outbox.pump();
  }

  private gone(entry: LedgerEntry, reason: string) {
    const { logger } = this.options;
    const job = this.table.get(entry.jobId);
    if (entry.state === 'accepted' || entry.state === 'finished') {
      logger.info(`${label(entry)} is gone on the control plane (${reason}); ${entry.state === 'accepted' ? 'it will not start' : 'no longer reporting it'}`);
      this.ledger.transition(entry.jobId, 'dropped');
      if (job) {
        job.spool?.close();
        this.table.forget(job);
      }
      return;
    }
    if (entry.state === 'running' && job) {
      logger.warn(`${label(entry)} is gone on the control plane (${reason}); stopping it without reporting`);
      job.dropped = true;
      this.ledger.transition(entry.jobId, 'dropped');
      if (job.runner?.running) job.runner.stop('cancelled', this.timings.killGraceMs, `the control plane no longer tracks this job (${reason}): SIGTERM sent to process group`, 'gone');
      else this.processEnded(job, { outcome: 'cancelled', exitCode: null, signal: null, message: 'gone' });
    }
  }

  private finishAcked(entry: LedgerEntry) {
    const job = this.table.get(entry.jobId);
    if (entry.state !== 'finished') return;
    this.ledger.transition(entry.jobId, 'reported');
    this.options.logger.debug(`the control plane recorded the outcome of ${label(entry)}`);
    if (job) {
      job.spool?.close();
      this.table.forget(job);
    }
  }

  // ---- housekeeping ----------------------------------------------------------------

  private tick() {
    const now = this.now();
    const t = this.timings;
    this.outbox.tick();
    for (const job of this.table.all()) {
      const entry = this.table.entry(job);
      if (entry?.state === 'accepted' && now - job.acceptedAt >= t.acceptExpiryMs) {
        this.options.logger.warn(`${label(entry)} got no start within ${Math.round(t.acceptExpiryMs / 60_000)} min of being accepted; dropping it`);
        this.ledger.transition(entry.jobId, 'dropped');
        this.table.forget(job);
      }
    }
    if (now - this.lastPruneAt >= 60 * 60_000) this.prune();
  }

  private prune() {
    this.lastPruneAt = this.now();
    try {
      const removed = this.ledger.prune(this.timings.retentionMs, this.workRoot, (e) => this.table.get(e.jobId)?.runner?.running === true);
      for (const id of removed) {
        this.table.get(id)?.spool?.close();
        this.table.delete(id);
      }
      if (removed.length) this.options.logger.debug(`forgot ${removed.length} job(s) older than ${Math.round(this.timings.retentionMs / 86_400_000)} days from the ledger`);
    } catch (err) {
      this.options.logger.warn(`cannot prune the job ledger ${this.ledger.dir}: ${(err as Error).message}`);
    }
  }

  private shutdownTimings() {
    return { ...this.timings, drainMs: this.timings.runner.drainMs ?? 2_000 };
  }
}
