import { MAX_JOBS_PER_AGENT, PROTOCOL_VERSION, type AgentJobMessage, type AgentSessionMessage, type JobAccept, type JobFinish, type JobRefuse } from '../../../src/protocol/messages';
import { clip, type Job, type JobTable } from './job-table';
import type { FinishRecord, LedgerEntry } from './ledger';

/** How the job manager (and the connection, for policy changes) reaches the server on the current connection. */
export interface JobLink {
  /** Sends (or queues) messages; false when the connection is gone (they are re-sent on the next one). */
  send(messages: AgentSessionMessage[]): boolean;
}

export interface OutboxTimings {
  /** An unacknowledged finish is sent again this often. */
  finishResendMs: number;
  /** Log chunks out this long without any acknowledgement are sent again. */
  logStallMs: number;
}

function acceptOf(ref: { jobId: string; attempt: number }): JobAccept {
  return { type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: ref.jobId, attempt: ref.attempt };
}

function finishOf(entry: LedgerEntry, finish: FinishRecord): JobFinish {
  return { type: 'agent.job.finish', v: PROTOCOL_VERSION, jobId: entry.jobId, attempt: entry.attempt, ...finish };
}

/**
 * Everything the agent tells the server about jobs, on whichever connection is up: accepts,
 * refusals, heartbeats, log chunks within their window, and finishes once every chunk is stored.
 * What the server has not acknowledged is sent again after a reconnect, when acknowledgements
 * stall, and (finishes) every `finishResendMs`.
 */
export class JobOutbox {
  private link: JobLink | null = null;
  private pumpQueued = false;
  private lastHeartbeatAt = 0;

  constructor(
    private readonly table: JobTable,
    private readonly timings: OutboxTimings,
    private readonly now: () => number,
  ) {}

  /** A connection is up: re-send accepts, a heartbeat, unacknowledged chunks and finishes. */
  connected(link: JobLink): void {
    this.link = link;
    const accepts = this.table
      .all()
      .filter((j) => this.table.entry(j)?.state === 'accepted')
      .map(acceptOf);
    if (accepts.length) this.send(accepts);
    this.rewindAll();
    this.sendHeartbeat();
    this.pump();
  }

  /** The connection is gone: whatever was in flight is sent again on the next one. */
  disconnected(): void {
    this.link = null;
    this.rewindAll();
  }

  send(messages: AgentJobMessage[]): boolean {
    if (!this.link || !messages.length) return false;
    return this.link.send(messages);
  }

  accept(ref: { jobId: string; attempt: number }): void {
    this.send([acceptOf(ref)]);
  }

  refuse(ref: { jobId: string; attempt: number }, reason: JobRefuse['reason'], message: string): void {
    this.send([{ type: 'agent.job.refuse', v: PROTOCOL_VERSION, jobId: ref.jobId, attempt: ref.attempt, reason, message: clip(message, 1000) as string }]);
  }

  /** A heartbeat for one job (a replayed offer of a job that runs here). */
  heartbeat(ref: { jobId: string; attempt: number }): void {
    this.send([{ type: 'agent.job.heartbeat', v: PROTOCOL_VERSION, jobs: [{ jobId: ref.jobId, attempt: ref.attempt }] }]);
  }

  /** Sends this job's finish again at the next pump (the server may not have it). */
  resendFinish(job: Job): void {
    job.finishSentAt = null;
    this.pump();
  }

  /** A pump soon, once: new chunks arrive in bursts. */
  schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Sends the log chunks the window allows, then the finish of every job whose chunks are all stored. */
  pump(): void {
    if (!this.link) return;
    const out: AgentJobMessage[] = [];
    const finishing: Job[] = [];
    for (const job of this.table.all()) {
      if (job.dropped) continue;
      if (job.spool) out.push(...job.spool.take());
      const entry = this.table.entry(job);
      if (entry?.state === 'finished' && entry.finish && job.finishSentAt === null && (!job.spool || job.spool.allAcked)) {
        out.push(finishOf(entry, entry.finish));
        finishing.push(job);
      }
    }
    if (!out.length) return;
    if (this.send(out)) for (const job of finishing) job.finishSentAt = this.now();
    else for (const job of this.table.all()) job.spool?.rewind();
  }

  /** Heartbeats when a lease needs one, and re-sends what went unacknowledged too long. */
  tick(): void {
    if (!this.link) return;
    const now = this.now();
    const beating = this.heartbeatJobs();
    if (beating.length) {
      const lease = Math.min(...beating.map((j) => this.table.entry(j)?.leaseSeconds ?? 60));
      if (now - this.lastHeartbeatAt >= (lease * 1000) / 3) this.sendHeartbeat();
    }
    for (const job of this.table.all()) {
      if (job.spool?.stalled(this.timings.logStallMs)) job.spool.rewind();
      if (job.finishSentAt !== null && now - job.finishSentAt >= this.timings.finishResendMs) job.finishSentAt = null;
    }
    this.pump();
  }

  close(): void {
    this.link = null;
  }

  private rewindAll() {
    for (const job of this.table.all()) {
      job.spool?.rewind();
      job.finishSentAt = null;
    }
  }

  /** Jobs whose lease the server still holds open: started, and the finish not yet sent. */
  private heartbeatJobs(): Job[] {
    return this.table.all().filter((j) => {
      const entry = this.table.entry(j);
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
}
