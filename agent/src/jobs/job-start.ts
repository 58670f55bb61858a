import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { JobOfferPayload, LocalPolicy, ScriptSyntax } from '../../../src/protocol/messages';
import type { Logger } from '../log';
import { jobEnvironment } from './job-env';
import { executionFor, type ExecutionResult } from './job-kinds';
import type { JobOutbox } from './job-outbox';
import type { Interpreter, RunAsUser, RunnerTimings } from './job-runner';
import { clip, label, type Job, type JobTable } from './job-table';
import type { LedgerEntry } from './ledger';
import { LogSpool, type SpoolOptions } from './log-spool';
import type { PolicyJudgement } from './offer-intake';

export interface StarterOptions {
  table: JobTable;
  outbox: JobOutbox;
  logger: Logger;
  stateDir: string;
  agentId: string;
  agentName: string;
  env?: NodeJS.ProcessEnv;
  interpreters?: Record<ScriptSyntax, Interpreter>;
  spool: Partial<SpoolOptions>;
  runner: Partial<RunnerTimings>;
  now: () => number;
  judge: (offer: JobOfferPayload) => PolicyJudgement;
  stopping: () => boolean;
  /** The job will never run: record it as cancelled. */
  cancelled: (jobId: string, attempt: number, message: string) => void;
  /** The job ended before anything ran (its outcome is decided). */
  finished: (job: Job, result: ExecutionResult, logChunks: number) => void;
  /** What ran for the job has ended and its output is complete. */
  ended: (job: Job, result: ExecutionResult) => void;
  /** Something changed that heartbeats and the outbox should see now. */
  changed: () => void;
}

/**
 * Starts an accepted job when the server confirms its lease: the start is in the ledger before
 * anything runs, the policy is asked again, and the job's kind decides what runs (a script's
 * process, or the agent's own check), its output going through the job's masked log spool.
 */
export class JobStarter {
  private traversableChecked = false;

  constructor(private readonly o: StarterOptions) {}

  start(entry: LedgerEntry, leaseSeconds: number): void {
    const { logger, table } = this.o;
    if (entry.state !== 'accepted') {
      if (entry.state !== 'dropped') logger.debug(`ignored a start for ${label(entry)}: it is already ${entry.state}`);
      else logger.warn(`ignored a start for ${label(entry)}: it was dropped before it started`);
      return;
    }
    const offer = entry.offer;
    if (!offer) return logger.error(`${label(entry)} has no offer in the ledger; it cannot start`);
    if (this.o.stopping()) {
      logger.info(`${label(entry)} was not started: the agent is stopping`);
      this.o.cancelled(entry.jobId, entry.attempt, 'agent stopping: the job was not started');
      return;
    }
    const verdict = this.o.judge(offer);

    // The start is on disk before any process exists: after a crash, this job is never run again.
    try {
      entry = table.ledger.transition(entry.jobId, 'running', { started: true, leaseSeconds });
    } catch (err) {
      logger.error(`cannot record the start of ${label(entry)} in the ledger: ${(err as Error).message}; not starting it`);
      return;
    }
    const job = table.set(table.get(entry.jobId) ?? table.newJob(entry));
    let spool: LogSpool;
    try {
      spool = LogSpool.create(table.ledger.spoolPath(entry.jobId, entry.attempt), entry, offer.sensitiveValues, () => this.o.outbox.schedulePump(), this.o.spool, this.o.now);
    } catch (err) {
      logger.error(`cannot create the log spool of ${label(entry)}: ${(err as Error).message}`);
      this.o.finished(job, { outcome: 'failed', exitCode: null, signal: null, message: `the agent cannot write its log spool: ${(err as Error).message}` }, 0);
      return;
    }
    job.spool = spool;
    if (!verdict.allowed) {
      // The policy changed between the offer and the start: the host's veto still wins.
      logger.warn(`${label(entry)} not started: ${verdict.message}`);
      spool.system(`not started: ${verdict.message}`);
      this.o.ended(job, { outcome: 'failed', exitCode: null, signal: null, message: clip(`refused by local policy at start: ${verdict.message}`, 1000) });
      return;
    }
    const runAs = verdict.runAs;
    const workDir = join(table.workRoot, `${entry.jobId}-${entry.attempt}`);
    if (runAs && offer.kind === 'script') this.makeWorkRootTraversable(runAs);
    let runner: ReturnType<typeof executionFor>;
    try {
      runner = executionFor(offer, {
        workDir,
        runAs,
        env: this.jobEnv(offer, workDir, verdict.policy),
        sink: { output: (stream, data) => spool.output(stream, data), system: (line) => spool.system(line) },
        runnerTimings: this.o.runner,
        interpreters: this.o.interpreters,
        stateDir: this.o.stateDir,
        policy: verdict.policy,
        now: this.o.now,
      });
    } catch (err) {
      // What the offer asks cannot be run as given (a template with a value missing): nothing starts.
      spool.system(`not started: ${(err as Error).message}`);
      this.o.ended(job, { outcome: 'failed', exitCode: null, signal: null, message: clip((err as Error).message, 1000) });
      return;
    }
    job.runner = runner;
    runner.start();
    void runner.done.then((result) => this.o.ended(job, result));
    logger.info(`started ${label(entry)}${runner.pid ? ` (pid ${runner.pid})` : ''}`);
    if (runner.pid) {
      try {
        table.ledger.transition(entry.jobId, 'running', { pid: runner.pid });
      } catch {
        // the pid is a diagnostic; the start itself is already recorded
      }
    }
    this.o.changed();
  }

  private jobEnv(offer: JobOfferPayload, workDir: string, policy: LocalPolicy): NodeJS.ProcessEnv {
    return {
      ...jobEnvironment(this.o.env ?? process.env, policy),
      CORRAL_JOB_ID: offer.jobId,
      CORRAL_TASK_ID: offer.taskId,
      CORRAL_ATTEMPT: String(offer.attempt),
      CORRAL_TASK_NAME: offer.name,
      CORRAL_AGENT_ID: this.o.agentId,
      CORRAL_AGENT_NAME: this.o.agentName,
      CORRAL_WORKDIR: workDir,
    };
  }

  /** A job running as another user must be able to reach <stateDir>/work/<job>; nothing else there is opened to it. */
  private makeWorkRootTraversable(user: RunAsUser) {
    if (this.traversableChecked) return;
    const { logger, table, stateDir } = this.o;
    mkdirSync(table.workRoot, { recursive: true, mode: 0o700 });
    for (const dir of [stateDir, table.workRoot]) {
      try {
        const mode = statSync(dir).mode & 0o777;
        if ((mode & 0o011) !== 0o011) {
          chmodSync(dir, mode | 0o011);
          logger.info(`made ${dir} traversable (mode ${(mode | 0o011).toString(8)}) so jobs running as ${user.user} can reach their working directory`);
        }
      } catch (err) {
        logger.warn(`cannot make ${dir} traversable for ${user.user}: ${(err as Error).message}`);
      }
    }
    this.traversableChecked = true;
  }
}
