import { chmodSync, mkdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  MAX_JOBS_PER_AGENT,
  PROTOCOL_VERSION,
  type AgentJobMessage,
  type JobAccept,
  type JobCancelPayload,
  type JobFinish,
  type JobFinishAck,
  type JobGone,
  type JobLogAck,
  type JobOfferPayload,
  type JobRefuse,
  type JobStart,
  type LocalPolicy,
  type ScriptSyntax,
} from '../../../src/protocol/messages';
import type { Logger } from '../log';
import { checkJobAgainstPolicy, type HostUser, type PolicyVerdict } from '../policy';
import { JobRunner, type Interpreter, type RunnerTimings, type RunResult, type RunAsUser } from './job-runner';
import { Ledger, type FinishRecord, type LedgerEntry } from './ledger';
import { LogSpool, type SpoolOptions } from './log-spool';

/** How the job manager reaches the server on the current connection. */
export interface JobLink {
  /** Sends (or queues) messages; false when the connection is gone (they are re-sent on the next one). */
  send(messages: AgentJobMessage[]): boolean;
}

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
  timings?: Partial<JobManagerTimings>;
  now?: () => number;
}

interface Job {
  jobId: string;
  attempt: number;
  spool: LogSpool | null;
  runner: JobRunner | null;
  /** The server said gone: stop it, report nothing. */
  dropped: boolean;
  /** When the finish was last sent on the current connection. */
  finishSentAt: number | null;
  acceptedAt: number;
}

// Never sent as-is: the server refuses fields longer than the protocol allows.
function clip(text: string | null, max: number): string | null {
  return text === null ? null : text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function label(entry: Pick<LedgerEntry, 'jobId' | 'attempt' | 'name'>): string {
  return `job ${entry.jobId} attempt ${entry.attempt}${entry.name ? ` ("${entry.name}")` : ''}`;
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
 */
export class JobManager {
  readonly ledger: Ledger;
  readonly workRoot: string;
  private readonly timings: JobManagerTimings;
  private readonly now: () => number;
  private readonly host: HostUser;
  private readonly jobs = new Map<string, Job>();
  private link: JobLink | null = null;
  private ticker: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private lastHeartbeatAt = 0;
  private lastPruneAt = 0;
  private stopping = false;
  private draining: Promise<void> | null = null;
  private readonly waiters = new Set<() => void>();
  private traversableChecked = false;
  private closed = false;

  constructor(private readonly options: JobManagerOptions) {
    if (!Number.isInteger(options.maxJobs) || options.maxJobs < 1 || options.maxJobs > MAX_JOBS_PER_AGENT) throw new Error(`maxJobs must be 1..${MAX_JOBS_PER_AGENT}`);
    this.timings = { ...DEFAULT_JOB_TIMINGS, ...options.timings };
    this.now = options.now ?? Date.now;
    this.host = options.host ?? hostUser();
    this.ledger = new Ledger(options.stateDir, this.now);
    this.workRoot = join(options.stateDir, 'work');
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
        this.jobs.set(entry.jobId, this.newJob(entry));
      } else if (entry.state === 'finished') {
        const job = this.newJob(entry);
        if (entry.started) job.spool = LogSpool.reopen(this.ledger.spoolPath(entry.jobId, entry.attempt), entry, () => this.schedulePump(), this.timings.spool, this.now);
        this.jobs.set(entry.jobId, job);
      }
    }
    this.prune();
    this.ticker = setInterval(() => this.tick(), this.timings.tickMs);
    this.ticker.unref();
  }

  /** A connection is up: re-send accepts, a heartbeat, unacknowledged chunks and finishes. */
  connected(link: JobLink): void {
    this.link = link;
    const accepts = [...this.jobs.values()].filter((j) => this.entry(j)?.state === 'accepted').map((j): JobAccept => ({ type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: j.jobId, attempt: j.attempt }));
    if (accepts.length) this.send(accepts);
    for (const job of this.jobs.values()) {
      job.spool?.rewind();
      job.finishSentAt = null;
    }
    this.sendHeartbeat();
    this.pump();
  }

  /** The connection is gone: whatever was in flight is sent again on the next one. */
  disconnected(): void {
    this.link = null;
    for (const job of this.jobs.values()) {
      job.spool?.rewind();
      job.finishSentAt = null;
    }
  }

  /** Jobs accepted or with a process running: what counts against `maxJobs`. */
  get load(): number {
    let n = 0;
    for (const job of this.jobs.values()) if (!job.dropped && (this.entry(job)?.state === 'accepted' || job.runner?.running)) n++;
    return n;
  }

  /** A verified offer (the connection checked the signature and that the agent is approved). */
  offer(offer: JobOfferPayload): void {
    const { logger } = this.options;
    const existing = this.ledger.get(offer.jobId);
    if (!existing && this.ledger.knows(offer.jobId)) return logger.warn(`ignored an offer for job ${offer.jobId}: its ledger entry is unreadable, so it may have run already`);
    if (existing && offer.attempt < existing.attempt) return logger.debug(`ignored a stale offer for ${label(offer)}: attempt ${existing.attempt} is newer`);
    if (existing && offer.attempt === existing.attempt) return this.replayedOffer(existing);
    if (existing?.started || (existing && existing.state !== 'accepted' && existing.state !== 'dropped')) {
      // A newer attempt is the control plane's decision to run the job again, which it makes only
      // for a task declared idempotent whose earlier attempt it lost track of.
      if (this.jobs.get(offer.jobId)?.runner?.running) {
        logger.warn(`refused ${label(offer)} for now: attempt ${existing.attempt} of that job is still running here`);
        return this.refuse(offer, 'busy', `attempt ${existing.attempt} of this job is still running on this agent`);
      }
      logger.warn(`${label(offer)} replaces attempt ${existing.attempt}, which ${existing.started ? 'ran' : 'ended'} here: the control plane runs the job again because its task is declared idempotent`);
    }
    if (this.now() - offer.issuedAt > this.timings.retentionMs) {
      logger.warn(`refused ${label(offer)}: it was issued ${new Date(offer.issuedAt).toISOString()}, longer ago than the ledger remembers`);
      return this.refuse(offer, 'invalid', 'the offer is older than the agent ledger remembers; it may have run already');
    }
    if (offer.kind !== 'script') {
      logger.warn(`refused ${label(offer)}: this agent cannot run jobs of kind "${offer.kind}"`);
      return this.refuse(offer, 'invalid', `this agent cannot run jobs of kind "${offer.kind}"`);
    }
    const verdict = this.checkPolicy(offer);
    if (!verdict.allowed) {
      logger.warn(`refused ${label(offer)}: ${verdict.message}`);
      return this.refuse(offer, 'policy', verdict.message);
    }
    if (this.stopping) return this.refuse(offer, 'busy', 'the agent is stopping');
    const load = this.load - (existing?.state === 'accepted' ? 1 : 0);
    if (load >= this.options.maxJobs) {
      logger.info(`refused ${label(offer)}: busy (${load} of ${this.options.maxJobs} job${this.options.maxJobs === 1 ? '' : 's'} accepted or running)`);
      return this.refuse(offer, 'busy', `the agent already has ${load} of ${this.options.maxJobs} jobs (--max-jobs)`);
    }
    let entry: LedgerEntry;
    try {
      entry = this.ledger.accept(offer);
    } catch (err) {
      logger.error(`cannot record ${label(offer)} in the ledger ${this.ledger.dir}: ${(err as Error).message}; refusing it`);
      return this.refuse(offer, 'busy', `the agent cannot write its job ledger: ${(err as Error).message}`);
    }
    this.jobs.set(offer.jobId, this.newJob(entry));
    logger.info(`accepted ${label(offer)} of task ${offer.taskId}`);
    this.send([{ type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: offer.jobId, attempt: offer.attempt }]);
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
      if (entry.started || (entry.state !== 'accepted' && entry.state !== 'dropped')) return logger.warn(`ignored a cancel for attempt ${cancel.attempt} of job ${cancel.jobId}: this agent has attempt ${entry.attempt}`);
      this.recordCancelled(cancel.jobId, cancel.attempt, message);
      return;
    }
    const job = this.jobs.get(entry.jobId);
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
    if (entry.state === 'finished' && job) {
      job.finishSentAt = null; // the server may not have the outcome: tell it again
      this.pump();
    }
  }

  /** start, gone, logAck and finishAck. */
  handle(message: JobStart | JobGone | JobLogAck | JobFinishAck): void {
    const entry = this.ledger.get(message.jobId);
    if (!entry) {
      if (message.type === 'server.job.start') this.options.logger.warn(`ignored a start for job ${message.jobId}, which this agent did not accept`);
      return;
    }
    if (entry.attempt !== message.attempt) return this.options.logger.debug(`ignored ${message.type} for attempt ${message.attempt} of job ${message.jobId}: this agent has attempt ${entry.attempt}`);
    switch (message.type) {
      case 'server.job.start':
        return this.start(entry, message.leaseSeconds);
      case 'server.job.gone':
        return this.gone(entry, message.reason);
      case 'server.job.logAck': {
        const job = this.jobs.get(entry.jobId);
        if (!job?.spool || job.dropped) return;
        job.spool.ack(message.nextSeq);
        this.pump();
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
    this.draining = (async () => {
      const { logger } = this.options;
      const t = this.timings;
      // Unsettled: started and not finished yet (running, or its output still draining).
      const unsettled = () => [...this.jobs.values()].filter((j) => !j.dropped && this.entry(j)?.state === 'running');
      if (unsettled().length) {
        logger.info(`agent stopping: waiting up to ${Math.round(t.shutdownGraceMs / 1000)} s for ${unsettled().length} running job(s) before cancelling them`);
        await this.waitUntil(() => unsettled().length === 0, t.shutdownGraceMs);
        const rest = unsettled().filter((j) => j.runner?.running);
        if (rest.length) logger.info(`agent stopping: cancelling ${rest.length} job(s) still running`);
        for (const job of rest) job.runner?.stop('cancelled', t.shutdownKillGraceMs, 'agent stopping: SIGTERM sent to process group', 'agent stopping');
        await this.waitUntil(() => unsettled().length === 0, t.shutdownKillGraceMs + (t.runner.drainMs ?? 2_000) + 1_000);
      }
      const unreported = () => [...this.jobs.values()].filter((j) => !j.dropped && this.entry(j)?.state === 'finished').length + unsettled().length;
      if (unreported()) {
        await this.waitUntil(() => unreported() === 0, t.shutdownReportMs);
        if (unreported()) logger.warn(`agent stopping with ${unreported()} job outcome(s) not yet acknowledged; they are re-sent when the agent starts again`);
      }
    })();
    return this.draining;
  }

  /** Stops every running job now (SIGTERM, then SIGKILL after `killGraceMs`), e.g. when the agent was revoked; reports nothing. */
  async terminate(reason: string): Promise<void> {
    this.stopping = true;
    const unsettled = () => [...this.jobs.values()].filter((j) => !j.dropped && this.entry(j)?.state === 'running');
    const live = unsettled().filter((j) => j.runner?.running);
    if (live.length) this.options.logger.warn(`stopping ${live.length} running job(s): ${reason}`);
    for (const job of live) job.runner?.stop('cancelled', this.timings.killGraceMs, `${reason}: SIGTERM sent to process group`, reason);
    await this.waitUntil(() => unsettled().length === 0, this.timings.killGraceMs + (this.timings.runner.drainMs ?? 2_000) + 1_000);
  }

  /** Releases timers and files; running processes are left alone (call drain or terminate first). */
  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.link = null;
    for (const job of this.jobs.values()) {
      job.runner?.dispose();
      job.spool?.close();
    }
    this.wake();
  }

  /** Process group ids of jobs still running (for tests and diagnostics). */
  runningPids(): number[] {
    return [...this.jobs.values()].flatMap((j) => (j.runner?.running && j.runner.pid ? [j.runner.pid] : []));
  }

  // ---- transitions -------------------------------------------------------------------

  private replayedOffer(entry: LedgerEntry) {
    const { logger } = this.options;
    const job = this.jobs.get(entry.jobId);
    logger.info(`${label(entry)} was offered again; it is ${entry.state} here and is not started a second time`);
    if (entry.state === 'accepted') this.send([{ type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: entry.jobId, attempt: entry.attempt }]);
    else if (entry.state === 'running' && job && !job.dropped) this.send([{ type: 'agent.job.heartbeat', v: PROTOCOL_VERSION, jobs: [{ jobId: entry.jobId, attempt: entry.attempt }] }]);
    else if (entry.state === 'finished' && job) {
      job.finishSentAt = null;
      this.pump();
    }
  }

  private start(entry: LedgerEntry, leaseSeconds: number) {
    const { logger } = this.options;
    if (entry.state !== 'accepted') {
      if (entry.state !== 'dropped') logger.debug(`ignored a start for ${label(entry)}: it is already ${entry.state}`);
      else logger.warn(`ignored a start for ${label(entry)}: it was dropped before it started`);
      return;
    }
    const offer = entry.offer;
    if (!offer) return logger.error(`${label(entry)} has no offer in the ledger; it cannot start`);
    if (offer.kind !== 'script') return logger.error(`${label(entry)} is of kind "${offer.kind}", which this agent cannot run`);
    if (this.stopping) {
      logger.info(`${label(entry)} was not started: the agent is stopping`);
      this.recordCancelled(entry.jobId, entry.attempt, 'agent stopping: the job was not started');
      return;
    }
    const verdict = this.checkPolicy(offer);

    // The start is on disk before any process exists: after a crash, this job is never run again.
    try {
      entry = this.ledger.transition(entry.jobId, 'running', { started: true, leaseSeconds });
    } catch (err) {
      logger.error(`cannot record the start of ${label(entry)} in the ledger: ${(err as Error).message}; not starting it`);
      return;
    }
    const job = this.jobs.get(entry.jobId) ?? this.newJob(entry);
    this.jobs.set(entry.jobId, job);
    let spool: LogSpool;
    try {
      spool = LogSpool.create(this.ledger.spoolPath(entry.jobId, entry.attempt), entry, offer.sensitiveValues, () => this.schedulePump(), this.timings.spool, this.now);
    } catch (err) {
      logger.error(`cannot create the log spool of ${label(entry)}: ${(err as Error).message}`);
      this.finished(job, { outcome: 'failed', exitCode: null, signal: null, message: `the agent cannot write its log spool: ${(err as Error).message}` }, 0);
      return;
    }
    job.spool = spool;
    const runAs = verdict.allowed ? verdict.runAs : null;
    const workDir = join(this.workRoot, `${entry.jobId}-${entry.attempt}`);
    if (runAs) this.makeWorkRootTraversable(runAs);
    const runner = new JobRunner(
      {
        jobId: entry.jobId,
        attempt: entry.attempt,
        syntax: offer.script.syntax,
        body: offer.script.body,
        timeoutSeconds: offer.timeoutSeconds,
        workDir,
        runAs,
        env: this.jobEnv(offer, workDir),
      },
      { output: (stream, data) => spool.output(stream, data), system: (line) => spool.system(line) },
      { timings: this.timings.runner, interpreters: this.options.interpreters },
    );
    job.runner = runner;
    if (!verdict.allowed) {
      // The policy changed between the offer and the start: the host's veto still wins.
      logger.warn(`${label(entry)} not started: ${verdict.message}`);
      spool.system(`not started: ${verdict.message}`);
      this.processEnded(job, { outcome: 'failed', exitCode: null, signal: null, message: clip(`refused by local policy at start: ${verdict.message}`, 1000) });
      return;
    }
    runner.start();
    void runner.done.then((result) => this.processEnded(job, result));
    logger.info(`started ${label(entry)}${runner.pid ? ` (pid ${runner.pid})` : ''}`);
    if (runner.pid) {
      try {
        this.ledger.transition(entry.jobId, 'running', { pid: runner.pid });
      } catch {
        // the pid is a diagnostic; the start itself is already recorded
      }
    }
    this.tick();
  }

  private processEnded(job: Job, result: RunResult) {
    if (this.closed) return; // the agent is exiting; the ledger keeps the job as running (abandoned at the next start)
    if (this.entry(job)?.state !== 'running' && !job.dropped) return; // already settled (e.g. refused at start)
    const spool = job.spool;
    spool?.end();
    if (job.dropped) {
      spool?.close();
      this.forget(job);
      return;
    }
    this.finished(job, result, spool?.count ?? 0);
  }

  private finished(job: Job, result: RunResult, logChunks: number) {
    const finish: FinishRecord = { outcome: result.outcome, exitCode: result.exitCode, signal: clip(result.signal, 20), message: clip(result.message, 1000), logChunks, result: null };
    try {
      this.ledger.transition(job.jobId, 'finished', { finish });
    } catch (err) {
      this.options.logger.error(`cannot record the outcome of job ${job.jobId} in the ledger: ${(err as Error).message}`);
    }
    this.options.logger.info(`job ${job.jobId} attempt ${job.attempt} ${result.outcome}${result.message ? ` (${result.message})` : ''}`);
    this.wake();
    this.pump();
  }

  private recordCancelled(jobId: string, attempt: number, message: string | null) {
    try {
      const entry = this.ledger.recordCancelled(jobId, attempt, message);
      const job = this.jobs.get(jobId);
      if (job && job.attempt === attempt) {
        job.finishSentAt = null;
      } else {
        this.jobs.set(jobId, this.newJob(entry));
      }
    } catch (err) {
      this.options.logger.error(`cannot record the cancel of job ${jobId} in the ledger: ${(err as Error).message}`);
      return;
    }
    this.pump();
  }

  private gone(entry: LedgerEntry, reason: string) {
    const { logger } = this.options;
    const job = this.jobs.get(entry.jobId);
    if (entry.state === 'accepted' || entry.state === 'finished') {
      logger.info(`${label(entry)} is gone on the control plane (${reason}); ${entry.state === 'accepted' ? 'it will not start' : 'no longer reporting it'}`);
      this.ledger.transition(entry.jobId, 'dropped');
      if (job) {
        job.spool?.close();
        this.forget(job);
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
    const job = this.jobs.get(entry.jobId);
    if (entry.state !== 'finished') return;
    this.ledger.transition(entry.jobId, 'reported');
    this.options.logger.debug(`the control plane recorded the outcome of ${label(entry)}`);
    if (job) {
      job.spool?.close();
      this.forget(job);
    }
  }

  /** Drops the in-memory job, its spool file and its working directory; the ledger entry stays. */
  private forget(job: Job) {
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

  // ---- sending ---------------------------------------------------------------------

  private send(messages: AgentJobMessage[]): boolean {
    if (!this.link || !messages.length) return false;
    return this.link.send(messages);
  }

  private refuse(offer: JobOfferPayload, reason: JobRefuse['reason'], message: string) {
    this.send([{ type: 'agent.job.refuse', v: PROTOCOL_VERSION, jobId: offer.jobId, attempt: offer.attempt, reason, message: clip(message, 1000) as string }]);
  }

  private schedulePump() {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Sends the log chunks the window allows, then the finish of every job whose chunks are all stored. */
  private pump() {
    if (!this.link) return;
    const out: AgentJobMessage[] = [];
    const finishing: Job[] = [];
    for (const job of this.jobs.values()) {
      if (job.dropped) continue;
      if (job.spool) out.push(...job.spool.take());
      const entry = this.entry(job);
      if (entry?.state === 'finished' && entry.finish && job.finishSentAt === null && (!job.spool || job.spool.allAcked)) {
        out.push(this.finishMessage(entry, entry.finish));
        finishing.push(job);
      }
    }
    if (!out.length) return;
    if (this.send(out)) for (const job of finishing) job.finishSentAt = this.now();
    else for (const job of this.jobs.values()) job.spool?.rewind();
  }

  private finishMessage(entry: LedgerEntry, finish: FinishRecord): JobFinish {
    return { type: 'agent.job.finish', v: PROTOCOL_VERSION, jobId: entry.jobId, attempt: entry.attempt, ...finish };
  }

  /** Jobs whose lease the server still holds open: started, and the finish not yet sent. */
  private heartbeatJobs(): Job[] {
    return [...this.jobs.values()].filter((j) => {
      const entry = this.entry(j);
      return !j.dropped && entry?.started && (entry.state === 'running' || (entry.state === 'finished' && j.finishSentAt === null));
    });
  }

  private sendHeartbeat() {
    const jobs = this.heartbeatJobs();
    if (!jobs.length || !this.link) return;
    this.lastHeartbeatAt = this.now();
    const refs = jobs.map((j) => ({ jobId: j.jobId, attempt: j.attempt }));
    const messages: AgentJobMessage[] = [];
    for (let i = 0; i < refs.length; i += MAX_JOBS_PER_AGENT) messages.push({ type: 'agent.job.heartbeat', v: PROTOCOL_VERSION, jobs: refs.slice(i, i + MAX_JOBS_PER_AGENT) });
    this.send(messages);
  }

  private tick() {
    const now = this.now();
    const t = this.timings;
    if (this.link) {
      const beating = this.heartbeatJobs();
      if (beating.length) {
        const lease = Math.min(...beating.map((j) => this.entry(j)?.leaseSeconds ?? 60));
        if (now - this.lastHeartbeatAt >= (lease * 1000) / 3) this.sendHeartbeat();
      }
      for (const job of this.jobs.values()) {
        if (job.spool?.stalled(t.logStallMs)) job.spool.rewind();
        if (job.finishSentAt !== null && now - job.finishSentAt >= t.finishResendMs) job.finishSentAt = null;
      }
      this.pump();
    }
    for (const job of [...this.jobs.values()]) {
      const entry = this.entry(job);
      if (entry?.state === 'accepted' && now - job.acceptedAt >= t.acceptExpiryMs) {
        this.options.logger.warn(`${label(entry)} got no start within ${Math.round(t.acceptExpiryMs / 60_000)} min of being accepted; dropping it`);
        this.ledger.transition(entry.jobId, 'dropped');
        this.forget(job);
      }
    }
    if (now - this.lastPruneAt >= 60 * 60_000) this.prune();
  }

  private prune() {
    this.lastPruneAt = this.now();
    try {
      const removed = this.ledger.prune(this.timings.retentionMs, this.workRoot, (e) => this.jobs.get(e.jobId)?.runner?.running === true);
      for (const id of removed) {
        this.jobs.get(id)?.spool?.close();
        this.jobs.delete(id);
      }
      if (removed.length) this.options.logger.debug(`forgot ${removed.length} job(s) older than ${Math.round(this.timings.retentionMs / 86_400_000)} days from the ledger`);
    } catch (err) {
      this.options.logger.warn(`cannot prune the job ledger ${this.ledger.dir}: ${(err as Error).message}`);
    }
  }

  // ---- helpers ----------------------------------------------------------------------

  private newJob(entry: LedgerEntry): Job {
    const acceptedAt = Date.parse(entry.updatedAt);
    return { jobId: entry.jobId, attempt: entry.attempt, spool: null, runner: null, dropped: false, finishSentAt: null, acceptedAt: Number.isNaN(acceptedAt) ? this.now() : acceptedAt };
  }

  private entry(job: Job): LedgerEntry | undefined {
    const entry = this.ledger.get(job.jobId);
    return entry && entry.attempt === job.attempt ? entry : undefined;
  }

  private checkPolicy(offer: JobOfferPayload): PolicyVerdict {
    let policy: LocalPolicy;
    try {
      policy = this.options.policy();
    } catch (err) {
      return { allowed: false, message: `the local policy cannot be read: ${(err as Error).message}` };
    }
    return checkJobAgainstPolicy(policy, offer, this.host, this.options.passwdPath);
  }

  private jobEnv(offer: JobOfferPayload, workDir: string): NodeJS.ProcessEnv {
    const env = { ...(this.options.env ?? process.env) };
    delete env.CORRAL_TOKEN; // the enrollment token is the agent's, not the job's
    return {
      ...env,
      CORRAL_JOB_ID: offer.jobId,
      CORRAL_TASK_ID: offer.taskId,
      CORRAL_ATTEMPT: String(offer.attempt),
      CORRAL_TASK_NAME: offer.name,
      CORRAL_AGENT_ID: this.options.agentId,
      CORRAL_AGENT_NAME: this.options.agentName,
      CORRAL_WORKDIR: workDir,
    };
  }

  /** A job running as another user must be able to reach <stateDir>/work/<job>; nothing else there is opened to it. */
  private makeWorkRootTraversable(user: RunAsUser) {
    if (this.traversableChecked) return;
    mkdirSync(this.workRoot, { recursive: true, mode: 0o700 });
    for (const dir of [this.options.stateDir, this.workRoot]) {
      try {
        const mode = statSync(dir).mode & 0o777;
        if ((mode & 0o011) !== 0o011) {
          chmodSync(dir, mode | 0o011);
          this.options.logger.info(`made ${dir} traversable (mode ${(mode | 0o011).toString(8)}) so jobs running as ${user.user} can reach their working directory`);
        }
      } catch (err) {
        this.options.logger.warn(`cannot make ${dir} traversable for ${user.user}: ${(err as Error).message}`);
      }
    }
    this.traversableChecked = true;
  }

  private wake() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves when `condition` holds (checked whenever a job changes) or after `ms`. */
  private waitUntil(condition: () => boolean, ms: number): Promise<void> {
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

