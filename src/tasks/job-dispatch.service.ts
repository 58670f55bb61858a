import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type AgentConnection, AgentConnectionsService, type AgentWork, type ConnectedAgent } from '../agents/agent-connections.service';
import { ClusterEventsService } from '../agents/cluster-events.service';
import { ServerKeysService } from '../agents/server-keys.service';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { maskStep } from '../protocol/masking';
import { type AgentJobMessage, type JobFinish, type JobLog, type JobOfferPayload, LOG_STREAMS, PROTOCOL_VERSION, type ServerMessage } from '../protocol/messages';
import { dispatchLatency, jobsFinished, leaseExpiries } from '../metrics/metrics';
import { Batcher } from '../database/batcher';
import { DEADLOCK_DETECTED, retryOnDeadlock, sqlErrorCode } from '../database/sql';
import { type CancelRow, type ClaimedJob, type ClaimRequest, type JobFinishRow, type JobRef, type JobRow, JobsRepository, refKey } from './jobs.repository';
import { Announcements, TaskProgress } from './task-progress.service';

// A cancellation already pushed to an agent is not pushed again sooner than this (heartbeat replies repeat it anyway).
const CANCEL_RESEND_MS = 15_000;
// Offers signed together carry at most about this much script: an envelope is sent as one frame.
const OFFERS_PER_ENVELOPE_CHARS = 128 * 1024;
// How long a statement nobody waits on closely waits for more of its kind.
const LINGER_MS = 5;
// An agent that said "busy" is not offered the job again for this long.
const BUSY_RETRY_SECONDS = 5;

/**
 * The task engine's side of agent connections: what to offer an agent, what its job messages
 * mean, and the sweeps that keep the queue honest (lapsed offers and leases, undeliverable
 * jobs) on every node.
 */
@Injectable()
export class JobDispatchService implements AgentWork, OnModuleInit, OnApplicationShutdown {
  private timers: NodeJS.Timeout[] = [];
  private readonly cancelsSent = new Map<string, number>();
  // Agents whose last claim here found less than they had room for: a finished job needs no new claim.
  private readonly drained = new Set<string>();
  private sweeping = false;
  // Every hot statement serves all the agents that need it at that moment. What no agent waits on
  // closely (starting a job it accepted, acknowledging a finish, renewing leases) lingers a little
  // to go out with more; offers do not.
  private readonly claims = new Batcher<ClaimRequest, ClaimedJob[]>((r) => this.claimBatch(r), { maxBatch: 500, concurrency: 2 });
  private readonly cancelLookups = new Batcher<string, CancelRow[]>((ids) => this.cancelBatch(ids), { maxBatch: 1000, concurrency: 1 });
  private readonly accepts = new Batcher<JobRef, boolean>((a) => this.atOnceBatch(a, (b) => this.jobs.acceptMany(b, this.config.jobLeaseSeconds)), { maxBatch: 500, concurrency: 2, lingerMs: LINGER_MS });
  private readonly finishes = new Batcher<JobFinishRow, boolean>((f) => this.atOnceBatch(f, (b) => this.finishBatch(b)), { maxBatch: 500, concurrency: 2, lingerMs: LINGER_MS });
  private readonly heartbeats = new Batcher<JobRef, { cancelRequested: boolean } | null>((r) => this.heartbeatBatch(r), { maxBatch: 1000, concurrency: 1, lingerMs: 4 * LINGER_MS });

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly dataSource: DataSource,
    private readonly jobs: JobsRepository,
    private readonly progress: TaskProgress,
    private readonly connections: AgentConnectionsService,
    private readonly events: ClusterEventsService,
    private readonly serverKeys: ServerKeysService,
    private readonly logger: CorralLogger,
  ) {}

  onModuleInit() {
    this.connections.attachWork(this);
    this.timers.push(setInterval(() => void this.sweep(), this.config.jobRequerySeconds * 1000).unref());
  }

  onApplicationShutdown() {
    for (const t of this.timers) clearInterval(t);
  }

  async pending(agentId: string, maxJobs: number, options: { claim: boolean; cancels: boolean }): Promise<ServerMessage[]> {
    const [claimed, cancels] = await Promise.all([
      options.claim ? this.claims.submit({ agentId, maxJobs }) : [],
      options.cancels ? this.cancelLookups.submit(agentId) : [],
    ]);
    const messages = this.offers(agentId, claimed);
    if (claimed.length) {
      const transport = this.connections.holdsSocket(agentId) ? 'websocket' : 'long-poll';
      const now = Date.now();
      for (const job of claimed) if (job.queuedAt) dispatchLatency.observe({ transport }, Math.max(0, now - job.queuedAt.getTime()) / 1000);
    }
    const now = Date.now();
    for (const c of cancels) {
      const key = refKey(c.id, c.attempt);
      if (now - (this.cancelsSent.get(key) ?? 0) < CANCEL_RESEND_MS) continue;
      this.cancelsSent.set(key, now);
      messages.push(this.cancel(agentId, c.id, c.attempt));
    }
    return messages;
  }

  /** Jobs offered as they were made (the agent is on a WebSocket here): signed and sent now. */
  sendOffers(connection: AgentConnection, agentId: string, jobs: ClaimedJob[]) {
    for (const m of this.offers(agentId, jobs)) connection.send(m);
    const now = Date.now();
    for (const job of jobs) if (job.queuedAt) dispatchLatency.observe({ transport: 'websocket' }, Math.max(0, now - job.queuedAt.getTime()) / 1000);
  }

  mayHaveWork(agentId: string): boolean {
    return !this.drained.has(agentId);
  }

  /** Messages about one job are handled in order; different jobs' side by side. */
  async handle(agent: ConnectedAgent, messages: AgentJobMessage[]): Promise<ServerMessage[]> {
    const byJob = new Map<string, AgentJobMessage[]>();
    for (const m of messages) {
      const key = m.type === 'agent.job.heartbeat' ? '' : m.jobId;
      byJob.set(key, [...(byJob.get(key) ?? []), m]);
    }
    const replies = await Promise.all(
      [...byJob.values()].map(async (group) => {
        const out: ServerMessage[] = [];
        for (const message of group)
          for (const r of await this.handleOne(agent, message)) {
            // A run of log chunks needs only the last acknowledgement.
            if (r.type === 'server.job.logAck' && out.at(-1)?.type === 'server.job.logAck') out.pop();
            out.push(r);
          }
        return out;
      }),
    );
    return replies.flat();
  }

  /** Claims for many agents in one statement; each request gets its own agent's offers. */
  private async claimBatch(requests: ClaimRequest[]): Promise<ClaimedJob[][]> {
    const unique = [...new Map(requests.map((r) => [r.agentId, r])).values()];
    const claims = new Map((await this.jobs.claimOffers(unique, this.connections.nodeId, this.config.jobOfferTimeoutSeconds)).map((c) => [c.agentId, c]));
    for (const { agentId } of unique) {
      const claim = claims.get(agentId);
      // Fewer offers than room: nothing else waits for this agent, and whatever comes is announced.
      if (claim && claim.offers.length < claim.room) this.drained.add(agentId);
      else this.drained.delete(agentId);
    }
    // An agent asked twice in one batch gets its offers once.
    const given = new Set<string>();
    return requests.map((r) => (given.has(r.agentId) ? [] : (given.add(r.agentId), claims.get(r.agentId)?.offers ?? [])));
  }

  private async cancelBatch(agentIds: string[]): Promise<CancelRow[][]> {
    const rows = await this.jobs.findCancelRequested([...new Set(agentIds)]);
    return agentIds.map((id) => rows.filter((r) => r.agentId === id));
  }

  /** Common accepts and finishes in one statement per batch; a deadlock (with a concurrent cancel) sends the batch the careful way. */
  private async atOnceBatch<T extends JobRef>(items: T[], run: (items: T[]) => Promise<Set<string>>): Promise<boolean[]> {
    try {
      const done = await run(items);
      return items.map((i) => done.has(refKey(i.jobId, i.attempt)));
    } catch (err) {
      if (sqlErrorCode(err) !== DEADLOCK_DETECTED) throw err;
      return items.map(() => false);
    }
  }

  private async finishBatch(finishes: JobFinishRow[]): Promise<Set<string>> {
    const finished = await this.jobs.finishMany(finishes);
    this.events.tasksChanged(finished.values());
    return new Set(finished.keys());
  }

  private async heartbeatBatch(reported: JobRef[]): Promise<({ cancelRequested: boolean } | null)[]> {
    const renewed = new Map((await this.jobs.renewLeases(reported, this.config.jobLeaseSeconds)).map((r) => [refKey(r.id, r.attempt), r]));
    return reported.map((r) => renewed.get(refKey(r.jobId, r.attempt)) ?? null);
  }

  /** Signed offers: one alone, several under one signature, in envelopes that stay well inside a frame. */
  private offers(agentId: string, jobs: ClaimedJob[]): ServerMessage[] {
    const issuedAt = Date.now();
    const payloads = jobs.map((job): JobOfferPayload => ({
      type: 'server.job.offer',
      v: PROTOCOL_VERSION,
      agentId,
      jobId: job.id,
      attempt: job.attempt,
      taskId: job.taskId,
      organizationId: job.organizationId,
      name: job.name,
      kind: job.kind,
      script: { syntax: job.scriptSyntax, body: job.scriptBody },
      timeoutSeconds: job.timeoutSeconds,
      sensitiveValues: job.sensitiveValues,
      issuedAt,
    }));
    const envelopes: JobOfferPayload[][] = [];
    let size = Infinity;
    for (const offer of payloads) {
      const bytes = offer.script.body.length + offer.sensitiveValues.join('').length;
      if (size + bytes > OFFERS_PER_ENVELOPE_CHARS) {
        envelopes.push([]);
        size = 0;
      }
      envelopes.at(-1)!.push(offer);
      size += bytes;
    }
    return envelopes.map((offers) =>
      this.serverKeys.sign(offers.length === 1 ? offers[0] : { type: 'server.job.offers', v: PROTOCOL_VERSION, agentId, offers, issuedAt }),
    );
  }

  private cancel(agentId: string, jobId: string, attempt: number): ServerMessage {
    return this.serverKeys.sign({
      type: 'server.job.cancel',
      v: PROTOCOL_VERSION,
      agentId,
      jobId,
      attempt,
      reason: 'the task was cancelled',
      graceSeconds: this.config.jobCancelGraceSeconds,
      issuedAt: Date.now(),
    });
  }

  private gone(jobId: string, attempt: number, reason: string): ServerMessage {
    return { type: 'server.job.gone', jobId, attempt, reason };
  }

  private async handleOne(agent: ConnectedAgent, m: AgentJobMessage): Promise<ServerMessage[]> {
    if (m.type === 'agent.job.heartbeat') return this.heartbeat(agent, m.jobs);
    const ref = { agentId: agent.id, jobId: m.jobId, attempt: m.attempt };
    if (m.type === 'agent.job.accept' && (await this.accepts.submit(ref)))
      return [{ type: 'server.job.start', jobId: m.jobId, attempt: m.attempt, leaseSeconds: this.config.jobLeaseSeconds }];
    if (m.type === 'agent.job.finish' && (await this.finishes.submit({ ...ref, ...m, message: this.finishMessage(m) }))) {
      jobsFinished.inc({ state: m.outcome });
      await this.freeSlot(agent.id);
      return [{ type: 'server.job.finishAck', jobId: m.jobId, attempt: m.attempt }];
    }
    // The careful way: the task locked, every case known.
    return retryOnDeadlock(() =>
      this.dataSource.transaction(async (em) => {
        const out = new Announcements();
        const replies = await this.handleJobMessage(em, agent, m, out);
        await this.progress.announce(out, em);
        return replies;
      }),
    );
  }

  /** A slot is free: offer the agent its next job (if any waits), here when this node holds it, else through whichever does. */
  private async freeSlot(agentId: string) {
    if (this.drained.has(agentId)) return;
    if (this.connections.holds(agentId)) return this.connections.deliver(agentId);
    const out = new Announcements();
    out.agents.add(agentId);
    await this.progress.announce(out);
  }

  private finishMessage(m: JobFinish): string | null {
    const signal = m.signal ? ` (${m.signal})` : '';
    return m.message ?? (m.outcome === 'failed' && m.exitCode !== null ? `exit code ${m.exitCode}` : m.outcome === 'failed' ? `killed${signal}` : null);
  }

  private async handleJobMessage(em: EntityManager, agent: ConnectedAgent, m: Exclude<AgentJobMessage, { type: 'agent.job.heartbeat' }>, out: Announcements): Promise<ServerMessage[]> {
    const job = await this.jobs.lockJob(em, m.jobId, agent.id);
    if (!job) return [this.gone(m.jobId, m.attempt, 'no such job for this agent')];
    if (job.attempt !== m.attempt) {
      // A report about an earlier attempt: acknowledge it so the agent stops sending, act on nothing.
      if (m.type === 'agent.job.finish') return [{ type: 'server.job.finishAck', jobId: m.jobId, attempt: m.attempt }];
      return [this.gone(m.jobId, m.attempt, `attempt ${m.attempt} was superseded by attempt ${job.attempt}`)];
    }
    switch (m.type) {
      case 'agent.job.accept':
        return this.accept(em, agent, job, out);
      case 'agent.job.refuse':
        return this.refuse(em, agent, job, m.reason, m.message, out);
      case 'agent.job.log':
        out.tasks.add(job.taskId); // live followers read the new lines
        return this.log(em, job, m);
      case 'agent.job.finish':
        return this.finish(em, agent, job, m, out);
    }
  }

  private async accept(em: EntityManager, agent: ConnectedAgent, job: JobRow, out: Announcements): Promise<ServerMessage[]> {
    const start: ServerMessage = { type: 'server.job.start', jobId: job.id, attempt: job.attempt, leaseSeconds: this.config.jobLeaseSeconds };
    if (job.state === 'running') return [start]; // the first start was lost on the way
    if (job.state !== 'offered') return [this.gone(job.id, job.attempt, job.state === 'cancelled' ? 'the task was cancelled before the job started' : `the job is ${job.state}`)];
    if (!(await this.jobs.markRunning(em, job.id, job.attempt, this.config.jobLeaseSeconds)))
      return [this.gone(job.id, job.attempt, `agent "${agent.name}" is not approved; it may not start work`)];
    await this.progress.settle(em, job.taskId, out);
    return [start];
  }

  private async refuse(em: EntityManager, agent: ConnectedAgent, job: JobRow, reason: 'policy' | 'busy' | 'invalid', message: string, out: Announcements): Promise<ServerMessage[]> {
    if (job.state !== 'offered') return [];
    if (reason === 'busy') {
      await this.jobs.requeueOffer(em, job.id, job.attempt, BUSY_RETRY_SECONDS);
      return [];
    }
    const why = reason === 'policy' ? `agent "${agent.name}" refused the job: its local policy forbids it (${message})` : `agent "${agent.name}" could not run the job: ${message}`;
    if (await this.jobs.finish(em, job.id, job.attempt, ['offered'], { state: 'failed', message: why })) jobsFinished.inc({ state: 'failed' });
    await this.progress.settle(em, job.taskId, out);
    return [];
  }

  private async heartbeat(agent: ConnectedAgent, reported: { jobId: string; attempt: number }[]): Promise<ServerMessage[]> {
    const renewed = await Promise.all(reported.map((r) => this.heartbeats.submit({ agentId: agent.id, ...r })));
    const replies: ServerMessage[] = [];
    reported.forEach((r, i) => {
      if (!renewed[i]) replies.push(this.gone(r.jobId, r.attempt, 'the control plane no longer expects this job to run'));
      else if (renewed[i].cancelRequested) replies.push(this.cancel(agent.id, r.jobId, r.attempt));
    });
    return replies;
  }

  private async log(em: EntityManager, job: JobRow, m: JobLog): Promise<ServerMessage[]> {
    const ack = (nextSeq: number): ServerMessage[] => [{ type: 'server.job.logAck', jobId: job.id, attempt: job.attempt, nextSeq }];
    if (m.seq !== job.nextLogSeq) return ack(job.nextLogSeq); // a duplicate, or a gap the agent must fill first
    const carry = { ...job.maskCarry };
    // PostgreSQL's text cannot hold U+0000, which a script may well print (find -print0): it is kept as U+FFFD.
    const step = maskStep(carry[m.stream] ?? '', m.text.replaceAll('\u0000', '\uFFFD'), job.sensitiveValues);
    // Only what is really held back is kept, so a job with nothing held back finishes at once.
    if (step.carry) carry[m.stream] = step.carry;
    else delete carry[m.stream];
    await this.store(em, job, m.seq + 1, [{ stream: m.stream, text: step.emit }], carry);
    return ack(m.seq + 1);
  }

  private async finish(em: EntityManager, agent: ConnectedAgent, job: JobRow, m: JobFinish, out: Announcements): Promise<ServerMessage[]> {
    const ack: ServerMessage = { type: 'server.job.finishAck', jobId: job.id, attempt: job.attempt };
    if (job.nextLogSeq < m.logChunks) return [{ type: 'server.job.logAck', jobId: job.id, attempt: job.attempt, nextSeq: job.nextLogSeq }];
    if (!['offered', 'running', 'unknown'].includes(job.state)) return [ack];
    // What was held back in case it began a sensitive value is released now, masked.
    const tails = LOG_STREAMS.map((stream) => ({ stream, text: maskStep(job.maskCarry[stream] ?? '', '', job.sensitiveValues, true).emit })).filter((t) => t.text);
    if (tails.length) await this.store(em, job, job.nextLogSeq, tails, {});
    const message = this.finishMessage(m);
    if (await this.jobs.finish(em, job.id, job.attempt, ['offered', 'running', 'unknown'], { state: m.outcome, exitCode: m.exitCode, signal: m.signal, message }))
      jobsFinished.inc({ state: m.outcome });
    await this.progress.settle(em, job.taskId, out);
    out.agents.add(agent.id); // a slot is free: offer the agent its next job
    return [ack];
  }

  /** Stores masked pieces under the per-attempt size cap, with one visible marker where it cut. */
  private async store(em: EntityManager, job: JobRow, nextSeq: number, pieces: { stream: JobLog['stream']; text: string }[], carry: Record<string, string>) {
    let bytes = job.logBytes;
    let truncated = job.logTruncated;
    const kept: typeof pieces = [];
    for (const piece of pieces) {
      if (truncated || !piece.text) continue;
      const size = Buffer.byteLength(piece.text);
      if (bytes + size <= this.config.jobLogMaxBytes) {
        kept.push(piece);
        bytes += size;
        continue;
      }
      const room = Math.max(0, this.config.jobLogMaxBytes - bytes);
      const head = Buffer.from(piece.text).subarray(0, room).toString('utf8').replace(/\uFFFD$/, '');
      if (head) kept.push({ stream: piece.stream, text: head });
      kept.push({ stream: 'system', text: `\n[corral] log truncated: this job's output passed ${this.config.jobLogMaxBytes} bytes (JOB_LOG_MAX_BYTES); the rest was not kept\n` });
      bytes += Buffer.byteLength(head);
      truncated = true;
    }
    await this.jobs.appendLog(em, job, nextSeq, kept, { nextLogSeq: nextSeq, logBytes: bytes, logTruncated: truncated, maskCarry: carry });
  }

  /** Lapsed offers and leases, undeliverable jobs, and work nobody was told about; every node runs it. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    const out = new Announcements();
    try {
      const lapsedOffers = await this.jobs.expireOffers();
      leaseExpiries.inc({ kind: 'offer' }, lapsedOffers.length);
      for (const agentId of lapsedOffers) out.agents.add(agentId);
      for (const lapsed of await this.jobs.findLapsedLeases()) {
        await this.dataSource.transaction(async (em) => {
          const job = await this.jobs.lockJob(em, lapsed.id, null);
          if (!job) return;
          const lease = `no heartbeat from the agent for ${this.config.jobLeaseSeconds} s`;
          const retried =
            lapsed.idempotent && lapsed.attempt < lapsed.maxAttempts && (await this.jobs.retry(em, lapsed.id, `attempt ${lapsed.attempt} lost (${lease}); retrying, as the task is idempotent`));
          if (retried) out.agents.add(lapsed.agentId); // announced after the sweep, with the rest
          else if (!(await this.jobs.markLost(em, lapsed.id, `${lease}: the agent may be gone, and whether the job finished is unknown; it was not run again`))) return;
          leaseExpiries.inc({ kind: retried ? 'retried' : 'lost' });
          await this.progress.settle(em, job.taskId, out);
        });
      }
      for (const stuck of await this.jobs.findUndelivered(this.config.jobDeliveryTimeoutSeconds)) {
        await this.dataSource.transaction(async (em) => {
          const job = await this.jobs.lockJob(em, stuck.id, null);
          if (!job) return;
          const why = `no approved agent accepted the job within ${this.config.jobDeliveryTimeoutSeconds} s (JOB_DELIVERY_TIMEOUT_SECONDS); is the agent connected?`;
          if (!(await this.jobs.finish(em, job.id, job.attempt, ['queued'], { state: 'failed', message: why }))) return;
          jobsFinished.inc({ state: 'failed' });
          await this.progress.settle(em, job.taskId, out);
        });
      }
      await this.progress.announce(out);
      // The backstop: work nobody announced (a lost notification), for the agents held here. The
      // database names the agents with work rather than being sent every agent held here.
      this.connections.workAnnounced(await this.jobs.agentsWithClaimableJobs());
      const now = Date.now();
      for (const [key, at] of this.cancelsSent) if (now - at > CANCEL_RESEND_MS) this.cancelsSent.delete(key);
      for (const agentId of this.drained) if (!this.connections.holds(agentId)) this.drained.delete(agentId);
    } catch (err) {
      this.logger.event('warn', 'job sweep failed; the next one retries', { err: (err as Error).message }, 'JobDispatch');
    } finally {
      this.sweeping = false;
    }
  }
}
