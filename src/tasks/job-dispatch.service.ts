import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { type AgentConnection, AgentConnectionsService, type AgentWork, type ConnectedAgent } from '../agents/agent-connections.service';
import { ServerKeysService } from '../agents/server-keys.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { type AgentJobMessage, type JobAccept, type JobFinish, type JobLog, type JobOfferPayload, type JobRefuse, PROTOCOL_VERSION, type ServerMessage } from '../protocol/messages';
import { dispatchLatency, jobDuration, jobsFinished, leaseExpiries } from '../metrics/metrics';
import { Batcher } from '../database/batcher';
import { retryOnDeadlock } from '../database/sql';
import { OrganizationLimitsService } from '../orgs/organization-limits.service';
import { SecretKeysService } from '../secrets/secret-keys.service';
import { DEFAULT_FAIR_SHARE, FairShare } from './fair-share';
import { JobLogIntake } from './job-log-intake';
import { nodeLoad } from './node-load';
import { JobOutputs } from './job-outputs';
import { type CancelRow, type Claim, type ClaimedJob, type ClaimRequest, type JobRef, JobsRepository, refKey } from './jobs.repository';
import { Announcements, TaskProgress } from './task-progress.service';
import { HELD_JOB_STATES, type JobState } from './task-states';

// A cancellation already pushed to an agent is not pushed again sooner than this (heartbeat replies repeat it anyway).
const CANCEL_RESEND_MS = 15_000;
// Offers signed together carry at most about this much payload: an envelope is sent as one frame.
const OFFERS_PER_ENVELOPE_CHARS = 128 * 1024;
// How long a statement nobody waits on closely waits for more of its kind.
const LINGER_MS = 5;
// An agent that said "busy" is not offered the job again for this long.
const BUSY_RETRY_SECONDS = 5;

/** One agent's message about one job, as a batch takes it. */
interface FromAgent<M> {
  agent: ConnectedAgent;
  m: M;
}

/**
 * The task engine's side of agent connections: what to offer an agent, what its job messages
 * mean, and the sweeps that keep the queue honest (lapsed offers and leases, undeliverable
 * jobs) on every node. Each job event has one path: accepts and finishes go in batches. A batch
 * of accepts is one statement that locks its tasks and jobs, starts the offered ones and settles
 * their tasks; a batch of finishes is one transaction whose one statement locks and ends the
 * jobs, whose tasks then settle (with the kinds' hooks) before it commits. Every reply is read
 * from the rows those statements return. Output reaches the job's log through JobLogIntake.
 */
@Injectable()
export class JobDispatchService implements AgentWork, OnModuleInit, OnApplicationShutdown {
  private timers: NodeJS.Timeout[] = [];
  private readonly cancelsSent = new Map<string, number>();
  // Agents whose last claim here found less than they had room for: a finished job needs no new claim.
  private readonly drained = new Set<string>();
  // Organisations' shares of this node while it is busy; the agents a held organisation's rate kept waiting, served again as it allows.
  private readonly shares = new FairShare();
  private readonly heldBack = new Map<string, Set<string>>();
  // Agents whose organisation was at its running limit when they claimed: served again when one of its jobs ends here (or by the sweep).
  private readonly atRunningLimit = new Map<string, Set<string>>();
  private sweeping = false;
  // Every hot statement serves all the agents that need it at that moment. What no agent waits on
  // closely (starting a job it accepted, acknowledging a finish, renewing leases) lingers a little
  // to go out with more; offers do not.
  private readonly claims = new Batcher<ClaimRequest, Claim>((r) => this.claimBatch(r), { maxBatch: 500, concurrency: 2 });
  private readonly cancelLookups = new Batcher<string, CancelRow[]>((ids) => this.cancelBatch(ids), { maxBatch: 1000, concurrency: 1 });
  private readonly accepts = new Batcher<FromAgent<JobAccept>, ServerMessage[]>((b) => this.acceptBatch(b), { maxBatch: 500, concurrency: 2, lingerMs: LINGER_MS });
  private readonly finishes = new Batcher<FromAgent<JobFinish>, ServerMessage[]>((b) => this.finishBatch(b), { maxBatch: 500, concurrency: 2, lingerMs: LINGER_MS });
  private readonly heartbeats = new Batcher<JobRef, { cancelRequested: boolean } | null>((r) => this.heartbeatBatch(r), { maxBatch: 1000, concurrency: 1, lingerMs: 4 * LINGER_MS });

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly dataSource: DataSource,
    private readonly jobs: JobsRepository,
    private readonly progress: TaskProgress,
    private readonly connections: AgentConnectionsService,
    private readonly serverKeys: ServerKeysService,
    private readonly events: ClusterEventsService,
    private readonly logger: CorralLogger,
    private readonly secretKeys: SecretKeysService,
    private readonly outputs: JobOutputs,
    private readonly logIntake: JobLogIntake,
    private readonly limits: OrganizationLimitsService,
  ) {}

  async onModuleInit() {
    this.connections.attachWork(this);
    // Before the first sweep: leases that lapsed while every node was down are not the agents' fault.
    const graced = await this.jobs.graceLeasesAfterOutage(this.events.nodeId, this.config.jobLeaseSeconds, this.config.nodeDeadAfterSeconds);
    if (graced) this.logger.event('info', 'no other node was up: running jobs get one lease for their agents to come back', { jobs: graced }, 'JobDispatch');
    this.timers.push(setInterval(() => void this.sweep(), this.config.jobRequerySeconds * 1000).unref());
    const load = nodeLoad(DEFAULT_FAIR_SHARE.windowMs);
    this.timers.push(
      setInterval(() => {
        for (const org of this.shares.tick(load())) {
          const agents = this.heldBack.get(org);
          this.heldBack.delete(org);
          if (agents) this.connections.workAnnounced(agents);
        }
      }, DEFAULT_FAIR_SHARE.windowMs).unref(),
    );
  }

  onApplicationShutdown() {
    for (const t of this.timers) clearInterval(t);
  }

  async pending(agent: ConnectedAgent, maxJobs: number, options: { claim: boolean; cancels: boolean }): Promise<ServerMessage[]> {
    const agentId = agent.id;
    const [claimed, cancels] = await Promise.all([options.claim ? this.claimFor(agent, maxJobs) : [], options.cancels ? this.cancelLookups.submit(agentId) : []]);
    await this.secretKeys.know(claimed.flatMap((j) => j.secrets));
    const messages = this.offers(agentId, claimed);
    if (claimed.length) this.observeDispatch(this.connections.holdsSocket(agentId) ? 'websocket' : 'long-poll', claimed);
    const now = Date.now();
    for (const c of cancels) {
      const key = refKey(c.id, c.attempt);
      if (now - (this.cancelsSent.get(key) ?? 0) < CANCEL_RESEND_MS) continue;
      this.cancelsSent.set(key, now);
      messages.push(this.cancel(agentId, c.id, c.attempt));
    }
    return messages;
  }

  /**
   * Whether an organisation's new jobs may be offered as they are made, or must wait for its share
   * of this busy node or for room under its running limit (which only claims measure: jobs offered
   * as they are made may pass it until the next claim of the organisation's finds it reached).
   */
  mayOfferAtOnce(organizationId: string): boolean {
    return !this.shares.isHeld(organizationId) && !this.atRunningLimit.has(organizationId);
  }

  /** Jobs offered as they were made (the agent is on a WebSocket here): signed and sent now. */
  sendOffers(connection: AgentConnection, agentId: string, jobs: ClaimedJob[]) {
    if (jobs.length) this.shares.offeredTo(jobs[0].organizationId, jobs.length);
    for (const m of this.offers(agentId, jobs)) connection.send(m);
    this.observeDispatch('websocket', jobs);
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

  private observeDispatch(transport: 'websocket' | 'long-poll', jobs: ClaimedJob[]) {
    const now = Date.now();
    for (const job of jobs) if (job.queuedAt) dispatchLatency.observe({ transport }, Math.max(0, now - job.queuedAt.getTime()) / 1000);
  }

  /**
   * What the agent may be offered now: all it has room for, unless its organisation is held to its
   * share or is at its running limit (then it is served again later).
   */
  private async claimFor(agent: ConnectedAgent, maxJobs: number): Promise<ClaimedJob[]> {
    const org = agent.organizationId;
    const cap = this.shares.take(org, maxJobs);
    const { runningJobs } = await this.limits.of(org);
    const claim = cap > 0 ? await this.claims.submit({ agentId: agent.id, maxJobs, cap, runningLimit: runningJobs }) : null;
    const claimed = claim?.offers ?? [];
    if (claim?.orgLimited) this.atRunningLimit.set(org, (this.atRunningLimit.get(org) ?? new Set()).add(agent.id));
    // Room again (a job of its ended on another node): those it kept waiting here claim too.
    else if (claim) this.roomAgain(org);
    this.shares.giveBack(org, cap - claimed.length);
    this.shares.offeredTo(org, claimed.length);
    if (cap < maxJobs && claimed.length === cap) this.heldBack.set(org, (this.heldBack.get(org) ?? new Set()).add(agent.id));
    return claimed;
  }

  /** Claims for many agents in one statement; each request gets its own agent's claim. */
  private async claimBatch(requests: ClaimRequest[]): Promise<Claim[]> {
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
    return requests.map((r) =>
      given.has(r.agentId) ? { agentId: r.agentId, room: 0, offers: [] } : (given.add(r.agentId), claims.get(r.agentId) ?? { agentId: r.agentId, room: 0, offers: [] }),
    );
  }

  private async cancelBatch(agentIds: string[]): Promise<CancelRow[][]> {
    const rows = await this.jobs.findCancelRequested([...new Set(agentIds)]);
    return agentIds.map((id) => rows.filter((r) => r.agentId === id));
  }

  /** One transaction (retried on a deadlock) whose announcements go out after it commits. */
  private async transact<T>(work: (em: EntityManager, out: Announcements) => Promise<T>): Promise<T> {
    const out = new Announcements();
    const result = await retryOnDeadlock(() =>
      this.dataSource.transaction((em) => {
        out.tasks.clear();
        out.agents.clear();
        return work(em, out);
      }),
    );
    await this.progress.announceAfterCommit(out);
    return result;
  }

  /** Accepts: offered → running under a lease (the agent then starts the job), in one statement; every other case is answered from the row. */
  private async acceptBatch(batch: FromAgent<JobAccept>[]): Promise<ServerMessage[][]> {
    const refs = batch.map(({ agent, m }) => ({ jobId: m.jobId, agentId: agent.id, attempt: m.attempt }));
    const { rows, started } = await retryOnDeadlock(() => this.jobs.accept(refs, this.config.jobLeaseSeconds));
    const out = new Announcements();
    for (const id of started) out.tasks.add(rows.get(id)!.taskId);
    await this.progress.announceAfterCommit(out);
    return batch.map(({ agent, m }): ServerMessage[] => {
      const job = rows.get(m.jobId);
      const start: ServerMessage = { type: 'server.job.start', jobId: m.jobId, attempt: m.attempt, leaseSeconds: this.config.jobLeaseSeconds };
      if (!job) return [this.gone(m.jobId, m.attempt, 'no such job for this agent')];
      if (job.attempt !== m.attempt) return [this.gone(m.jobId, m.attempt, `attempt ${m.attempt} was superseded by attempt ${job.attempt}`)];
      if (started.has(job.id) || job.state === 'running') return [start]; // running already: the first start was lost on the way
      if (job.state !== 'offered') return [this.gone(m.jobId, m.attempt, job.state === 'cancelled' ? 'the task was cancelled before the job started' : `the job is ${job.state}`)];
      return [this.gone(m.jobId, m.attempt, `agent "${agent.name}" is not approved; it may not start work`)];
    });
  }

  /**
   * Finishes: the job ends with the agent's outcome once its whole log is stored; what was held
   * back in case it began a secret is released, masked; the task settles, and the agent's slot
   * is offered its next job. A report about another attempt, or a job already ended, is
   * acknowledged so the agent stops sending it; one whose log is incomplete is told where to resume.
   */
  private async finishBatch(batch: FromAgent<JobFinish>[]): Promise<ServerMessage[][]> {
    const freed = new Set<string>();
    const organizations = new Set<string>();
    const replies = await this.transact(async (em, out) => {
      freed.clear();
      organizations.clear();
      const { rows, ended } = await this.jobs.finish(
        em,
        batch.map(({ agent, m }) => ({
          id: m.jobId,
          agentId: agent.id,
          attempt: m.attempt,
          state: m.outcome,
          exitCode: m.exitCode,
          signal: m.signal,
          message: this.finishMessage(m),
          result: m.result ?? null,
          logChunks: m.logChunks,
        })),
      );
      const endedRows = [...ended].map((id) => rows.get(id)!);
      const reported = new Map(batch.map(({ m }) => [m.jobId, m.outputs ?? []]));
      await this.outputs.save(
        em,
        endedRows.map((r) => ({ id: r.id, organizationId: r.organizationId, outputs: reported.get(r.id) ?? [] })),
      );
      await this.logIntake.release(em, endedRows);
      for (const row of endedRows) {
        freed.add(row.agentId);
        organizations.add(row.organizationId);
      }
      const outcomes = new Map(batch.map(({ m }) => [m.jobId, m.outcome]));
      for (const row of endedRows) {
        jobsFinished.inc({ state: outcomes.get(row.id) });
        if (row.runningSeconds !== null) jobDuration.observe({ kind: row.kind, state: outcomes.get(row.id) }, row.runningSeconds);
      }
      await this.progress.settle(
        em,
        endedRows.map((r) => r.taskId),
        endedRows,
        out,
      );
      return batch.map(({ m }): ServerMessage[] => {
        const job = rows.get(m.jobId);
        if (!job) return [this.gone(m.jobId, m.attempt, 'no such job for this agent')];
        const stillHeld = job.attempt === m.attempt && (HELD_JOB_STATES as readonly JobState[]).includes(job.state);
        if (stillHeld && !ended.has(job.id) && job.nextLogSeq < m.logChunks) return [{ type: 'server.job.logAck', jobId: job.id, attempt: job.attempt, nextSeq: job.nextLogSeq }];
        return [{ type: 'server.job.finishAck', jobId: m.jobId, attempt: m.attempt }];
      });
    });
    for (const agentId of freed) await this.freeSlot(agentId);
    for (const org of organizations) this.roomAgain(org);
    return replies;
  }

  private async heartbeatBatch(reported: JobRef[]): Promise<({ cancelRequested: boolean } | null)[]> {
    const renewed = new Map((await this.jobs.renewLeases(reported, this.config.jobLeaseSeconds)).map((r) => [refKey(r.id, r.attempt), r]));
    return reported.map((r) => renewed.get(refKey(r.jobId, r.attempt)) ?? null);
  }

  /** Signed offers: one alone, several under one signature, in envelopes that stay well inside a frame. */
  private offers(agentId: string, jobs: ClaimedJob[]): ServerMessage[] {
    const issuedAt = Date.now();
    const envelopes: JobOfferPayload[][] = [];
    let size = Infinity;
    for (const job of jobs) {
      let sensitiveValues: string[];
      try {
        sensitiveValues = this.logIntake.secretsOf(job);
      } catch (err) {
        // Not offered: the offer lapses and the job waits; nothing the agent could run safely without its masks.
        this.logger.event('error', 'a job was not offered: its sensitive values cannot be opened', { jobId: job.id, err: (err as Error).message }, 'JobDispatch');
        continue;
      }
      const offer = {
        type: 'server.job.offer',
        v: PROTOCOL_VERSION,
        agentId,
        jobId: job.id,
        attempt: job.attempt,
        taskId: job.taskId,
        organizationId: job.organizationId,
        name: job.name,
        timeoutSeconds: job.timeoutSeconds,
        sensitiveValues,
        issuedAt,
        kind: job.kind,
        ...job.payload,
      } as JobOfferPayload;
      const bytes = JSON.stringify(job.payload).length + sensitiveValues.join('').length;
      if (size + bytes > OFFERS_PER_ENVELOPE_CHARS) {
        envelopes.push([]);
        size = 0;
      }
      envelopes.at(-1)!.push(offer);
      size += bytes;
    }
    return envelopes.map((offers) => this.serverKeys.sign(offers.length === 1 ? offers[0] : { type: 'server.job.offers', v: PROTOCOL_VERSION, agentId, offers, issuedAt }));
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
    switch (m.type) {
      case 'agent.job.heartbeat':
        return this.heartbeat(agent, m.jobs);
      case 'agent.job.accept':
        return this.accepts.submit({ agent, m });
      case 'agent.job.finish':
        return this.finishes.submit({ agent, m });
      case 'agent.job.refuse':
        return this.transact((em, out) => this.refuse(em, agent, m, out));
      case 'agent.job.log':
        return this.transact((em, out) => this.log(em, agent, m, out));
    }
  }

  /** The organisation has room under its running limit again: the agents it kept waiting here claim again. */
  private roomAgain(organizationId: string) {
    const agents = this.atRunningLimit.get(organizationId);
    if (!agents) return;
    this.atRunningLimit.delete(organizationId);
    this.connections.workAnnounced(agents);
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

  /** The agent will not run an offered job: `busy` hands it back for later, anything else fails it. */
  private async refuse(em: EntityManager, agent: ConnectedAgent, m: JobRefuse, out: Announcements): Promise<ServerMessage[]> {
    const job = (await this.jobs.lockJobs(em, [{ jobId: m.jobId, agentId: agent.id }])).get(m.jobId);
    if (!job || job.attempt !== m.attempt || job.state !== 'offered') return [];
    if (m.reason === 'busy') {
      await this.jobs.requeueOffer(em, job.id, job.attempt, BUSY_RETRY_SECONDS);
      return [];
    }
    const why = m.reason === 'policy' ? `agent "${agent.name}" refused the job: its local policy forbids it (${m.message})` : `agent "${agent.name}" could not run the job: ${m.message}`;
    const ended = await this.jobs.end(em, job.id, job.attempt, ['offered'], 'failed', why);
    if (ended) jobsFinished.inc({ state: 'failed' });
    await this.progress.settle(em, [job.taskId], ended ? [job] : [], out);
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

  /** One chunk of output, stored once, masked, under the size cap; the agent is told the next sequence it should send. */
  private async log(em: EntityManager, agent: ConnectedAgent, m: JobLog, out: Announcements): Promise<ServerMessage[]> {
    const job = (await this.jobs.lockJobs(em, [{ jobId: m.jobId, agentId: agent.id }])).get(m.jobId);
    if (!job) return [this.gone(m.jobId, m.attempt, 'no such job for this agent')];
    if (job.attempt !== m.attempt) return [this.gone(m.jobId, m.attempt, `attempt ${m.attempt} was superseded by attempt ${job.attempt}`)];
    out.tasks.add(job.taskId); // live followers read the new lines
    const nextSeq = await this.logIntake.append(em, job, m);
    return [{ type: 'server.job.logAck', jobId: job.id, attempt: job.attempt, nextSeq }];
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
          const job = await this.jobs.lockJob(em, lapsed.id);
          if (!job) return;
          const lease = `no heartbeat from the agent for ${this.config.jobLeaseSeconds} s`;
          const retried =
            lapsed.idempotent && lapsed.attempt < lapsed.maxAttempts && (await this.jobs.retry(em, lapsed.id, `attempt ${lapsed.attempt} lost (${lease}); retrying, as the task is idempotent`));
          if (retried)
            out.agents.add(lapsed.agentId); // announced after the sweep, with the rest
          else if (!(await this.jobs.markLost(em, lapsed.id, `${lease}: the agent may be gone, and whether the job finished is unknown; it was not run again`))) return;
          leaseExpiries.inc({ kind: retried ? 'retried' : 'lost' });
          await this.progress.settle(em, [job.taskId], retried ? [] : [job], out);
        });
      }
      for (const stuck of await this.jobs.findUndelivered(this.config.jobDeliveryTimeoutSeconds)) {
        await this.dataSource.transaction(async (em) => {
          const job = await this.jobs.lockJob(em, stuck.id);
          if (!job) return;
          const why = `no approved agent accepted the job within ${this.config.jobDeliveryTimeoutSeconds} s (JOB_DELIVERY_TIMEOUT_SECONDS); is the agent connected?`;
          if (!(await this.jobs.end(em, job.id, job.attempt, ['queued'], 'failed', why))) return;
          jobsFinished.inc({ state: 'failed' });
          await this.progress.settle(em, [job.taskId], [job], out);
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
