import type { JobOfferPayload, LocalPolicy } from '../../../src/protocol/messages';
import type { Logger } from '../log';
import { checkJobAgainstPolicy, type HostUser, type PasswdUser } from '../policy';
import type { JobOutbox } from './job-outbox';
import { label, type JobTable } from './job-table';
import type { LedgerEntry } from './ledger';

/** The local policy's verdict on a job; when it allows the job, with the policy it was read from. */
export type PolicyJudgement = { allowed: true; runAs: PasswdUser | null; policy: LocalPolicy } | { allowed: false; message: string };

/** Reads the local policy as it is now and judges the job by it; a policy that cannot be read refuses everything. */
export function judgeJob(job: { kind: string; organizationId: string }, readPolicy: () => LocalPolicy, host: HostUser, passwdPath?: string): PolicyJudgement {
  let policy: LocalPolicy;
  try {
    policy = readPolicy();
  } catch (err) {
    return { allowed: false, message: `the local policy cannot be read: ${(err as Error).message}` };
  }
  const verdict = checkJobAgainstPolicy(policy, job, host, passwdPath);
  return verdict.allowed ? { ...verdict, policy } : verdict;
}

export interface IntakeOptions {
  table: JobTable;
  outbox: JobOutbox;
  logger: Logger;
  maxJobs: number;
  /** Offers issued longer ago than this are refused: the ledger may have forgotten them. */
  retentionMs: number;
  now: () => number;
  judge: (offer: JobOfferPayload) => PolicyJudgement;
  stopping: () => boolean;
}

/**
 * Takes or refuses a verified offer: the ledger first (a job id it knows never starts a second
 * process), then the offer's age, the local policy, shutdown and capacity; an accepted offer is
 * in the ledger before the accept goes out.
 */
export class OfferIntake {
  constructor(private readonly o: IntakeOptions) {}

  offer(offer: JobOfferPayload): void {
    const { table, outbox, logger } = this.o;
    const ledger = table.ledger;
    const existing = ledger.get(offer.jobId);
    if (!existing && ledger.knows(offer.jobId)) return logger.warn(`ignored an offer for job ${offer.jobId}: its ledger entry is unreadable, so it may have run already`);
    if (existing && offer.attempt < existing.attempt) return logger.debug(`ignored a stale offer for ${label(offer)}: attempt ${existing.attempt} is newer`);
    if (existing && offer.attempt === existing.attempt) return this.replayed(existing);
    if (existing?.started || (existing && existing.state !== 'accepted' && existing.state !== 'dropped')) {
      // A newer attempt is the control plane's decision to run the job again, which it makes only
      // for a task declared idempotent whose earlier attempt it lost track of.
      if (table.get(offer.jobId)?.runner?.running) {
        logger.warn(`refused ${label(offer)} for now: attempt ${existing.attempt} of that job is still running here`);
        return outbox.refuse(offer, 'busy', `attempt ${existing.attempt} of this job is still running on this agent`);
      }
      logger.warn(
        `${label(offer)} replaces attempt ${existing.attempt}, which ${existing.started ? 'ran' : 'ended'} here: the control plane runs the job again because its task is declared idempotent`,
      );
    }
    if (this.o.now() - offer.issuedAt > this.o.retentionMs) {
      logger.warn(`refused ${label(offer)}: it was issued ${new Date(offer.issuedAt).toISOString()}, longer ago than the ledger remembers`);
      return outbox.refuse(offer, 'invalid', 'the offer is older than the agent ledger remembers; it may have run already');
    }
    const verdict = this.o.judge(offer);
    if (!verdict.allowed) {
      logger.warn(`refused ${label(offer)}: ${verdict.message}`);
      return outbox.refuse(offer, 'policy', verdict.message);
    }
    if (this.o.stopping()) return outbox.refuse(offer, 'busy', 'the agent is stopping');
    const { maxJobs } = this.o;
    const load = table.load - (existing?.state === 'accepted' ? 1 : 0);
    if (load >= maxJobs) {
      logger.info(`refused ${label(offer)}: busy (${load} of ${maxJobs} job${maxJobs === 1 ? '' : 's'} accepted or running)`);
      return outbox.refuse(offer, 'busy', `the agent already has ${load} of ${maxJobs} jobs (--max-jobs)`);
    }
    let entry: LedgerEntry;
    try {
      entry = ledger.accept(offer);
    } catch (err) {
      logger.error(`cannot record ${label(offer)} in the ledger ${ledger.dir}: ${(err as Error).message}; refusing it`);
      return outbox.refuse(offer, 'busy', `the agent cannot write its job ledger: ${(err as Error).message}`);
    }
    table.set(table.newJob(entry));
    logger.info(`accepted ${label(offer)} of task ${offer.taskId}`);
    outbox.accept(offer);
  }

  /** The same attempt offered again: say again what the agent said, start nothing. */
  private replayed(entry: LedgerEntry) {
    const { table, outbox, logger } = this.o;
    const job = table.get(entry.jobId);
    logger.info(`${label(entry)} was offered again; it is ${entry.state} here and is not started a second time`);
    if (entry.state === 'accepted') outbox.accept(entry);
    else if (entry.state === 'running' && job && !job.dropped) outbox.heartbeat(entry);
    else if (entry.state === 'finished' && job) outbox.resendFinish(job);
  }
}
