import { PROTOCOL_VERSION, type AgentHello, type AgentStatus, type LocalPolicy, type ServerKey, type StatusPayload, type Transport } from '../../src/protocol/messages';
import { Backoff, sleep } from './backoff';
import type { TransportMode } from './config';
import { AgentError, describeFatal, EXIT_CODES } from './errors';
import type { HttpClient, Signer } from './http-client';
import type { JobLink, JobManager } from './jobs/job-manager';
import type { Logger } from './log';
import { runPollSession } from './poll-transport';
import { interpretServerMessage, pinnedKeys } from './server-messages';
import { DEFAULT_TIMINGS, type SessionEnd, type SessionHooks, type Timings } from './session';
import { EMPTY_STATUS, type Identity, type StateStore, type StatusFile } from './state-store';
import { runWebSocketSession } from './ws-transport';

export interface ConnectionOptions {
  identity: Identity;
  servers: string[];
  transport: TransportMode;
  client: HttpClient;
  signer: Signer;
  hello: AgentHello;
  logger: Logger;
  /** Runs the jobs this agent is offered; initialised by the caller. */
  jobs: JobManager;
  /** Where status.json goes; null keeps the state in memory only. */
  store: StateStore | null;
  /** Told of every change of the state status.json records (the service manager's status line follows it). */
  stateChanged?: (state: Omit<StatusFile, 'updatedAt'>) => void;
  timings?: Partial<Timings>;
  random?: () => number;
  now?: () => number;
}

export interface RunOutcome {
  exitCode: number;
  message: string | null;
}

const TRANSPORT_WORDS: Record<Transport, string> = { websocket: 'websocket', 'long-poll': 'HTTP long-poll' };
// While pending, remind whoever reads the log what to compare, but not on every reconnect.
const PENDING_REMINDER_MS = 10 * 60_000;

function seconds(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * The agent's connection loop: exactly one transport at a time, WebSocket first (unless told
 * otherwise), long-poll when WebSocket cannot get through, failover across servers, full-jitter
 * backoff between attempts. Its only way out is shutdown or a fatal error.
 */
export class AgentConnection {
  private readonly timings: Timings;
  private readonly random: () => number;
  private readonly now: () => number;
  private keys;
  private readonly backoff: Backoff;
  private state: Omit<StatusFile, 'updatedAt'>;
  private pendingAnnouncedAt: number | null = null;
  private storeWarned = false;
  /** The connection up now, if any. */
  private link: JobLink | null = null;

  constructor(private readonly options: ConnectionOptions) {
    if (!options.servers.length) throw new Error('no server to connect to');
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.keys = pinnedKeys(options.identity.serverKeys);
    options.hello.pinnedKeys = options.identity.serverKeys.map((k) => k.keyId);
    this.backoff = new Backoff(this.timings.backoff, this.random);
    this.state = { ...EMPTY_STATUS, pid: process.pid };
  }

  /** The approval status last verified from a signed message in this process. */
  get status(): AgentStatus | null {
    return this.state.status;
  }

  /**
   * The host's local policy changed: the control plane hears of it now when the agent is
   * connected, and from the hello of every later connection either way.
   */
  reportPolicy(policy: LocalPolicy): void {
    this.options.hello.policy = policy;
    this.link?.send([{ type: 'agent.policy', v: PROTOCOL_VERSION, policy }]);
  }

  /** The state as status.json records it. */
  snapshot(): Omit<StatusFile, 'updatedAt'> {
    return { ...this.state };
  }

  /**
   * Runs until `signal` aborts (then: stop taking offers, let running jobs end or cancel them,
   * report, and only then disconnect) or a fatal error (running jobs are stopped).
   */
  async run(signal: AbortSignal): Promise<RunOutcome> {
    const { servers, transport, logger, jobs } = this.options;
    let mode: Transport = transport === 'poll' ? 'long-poll' : 'websocket';
    let serverIndex = 0;
    let wsRetryAt = 0;
    let probing = false; // a WebSocket attempt made from long-poll mode
    this.save({ pid: process.pid, connected: false });

    // The connection outlives the stop request until the jobs are drained and reported.
    const stop = new AbortController();
    const onStop = () => void jobs.drain().finally(() => stop.abort());
    if (signal.aborted) onStop();
    else signal.addEventListener('abort', onStop, { once: true });
    signal = stop.signal;

    try {
      for (;;) {
        if (signal.aborted) return this.stopped();
        const server = servers[serverIndex % servers.length];
        if (mode === 'long-poll' && transport === 'auto' && this.now() >= wsRetryAt && wsRetryAt > 0) {
          mode = 'websocket';
          probing = true;
        }
        logger.debug(`connecting over ${TRANSPORT_WORDS[mode]} to ${server} (${this.options.client.routeOf(new URL(server))})`);

        const hooks = this.hooks();
        const end =
          mode === 'websocket'
            ? await runWebSocketSession({ ...this.sessionParams(server, hooks, signal), logger })
            : await runPollSession({
                ...this.sessionParams(server, hooks, signal),
                logger,
                random: this.random,
                shouldYield: () => transport === 'auto' && wsRetryAt > 0 && this.now() >= wsRetryAt,
              });
        this.link = null;
        jobs.disconnected();

        if (end.kind === 'stopped') return this.stopped();
        if (end.kind === 'fatal') return await this.fatal(end.error);
        if (end.kind === 'yield') continue;
        if (end.kind === 'reconnect') {
          this.save({ connected: false });
          this.backoff.reset();
          logger.info(`${server} asked the agent to reconnect; reconnecting in ${seconds(end.delayMs)}`);
          await sleep(end.delayMs, signal);
          continue;
        }

        const { error } = end;
        if (error.fatal) return await this.fatal(error);
        this.save({ connected: false, lastError: error.message });

        if (mode === 'websocket' && transport === 'auto' && end.beforeOpen) {
          if (probing) {
            // Long-poll was working a moment ago: go straight back to it.
            probing = false;
            mode = 'long-poll';
            wsRetryAt = this.now() + this.timings.wsRetryIntervalMs;
            logger.info(`WebSocket to ${server} is still unavailable (${error.message}); staying on HTTP long-poll, next try in ${seconds(this.timings.wsRetryIntervalMs)}`);
            continue;
          }
          if (await this.shouldFallBack(server, end, signal)) {
            mode = 'long-poll';
            wsRetryAt = this.now() + this.timings.wsRetryIntervalMs;
            logger.warn(`WebSocket to ${server} is not available (${error.message}); falling back to HTTP long-poll, will try WebSocket again every ${seconds(this.timings.wsRetryIntervalMs)}`);
            continue;
          }
        }
        probing = false;

        if (end.connectedMs >= this.timings.healthyAfterMs) this.backoff.reset();
        const delay = this.backoff.next(error.retryAfterMs);
        const next = servers[(serverIndex + 1) % servers.length];
        const where = next === server ? '' : ` via ${next}`;
        if (error.code === 'CLOCK_SKEW')
          logger.error(
            `CLOCK SKEW: ${server} refused this agent because this host's clock is off (${error.message}); fix the clock (NTP, chrony or timedatectl). Retrying in ${seconds(delay)}${where}`,
          );
        else if (end.connectedMs > 0) logger.warn(`${TRANSPORT_WORDS[mode]} connection to ${server} lost: ${error.message}; reconnecting in ${seconds(delay)}${where}`);
        else logger.warn(`cannot connect over ${TRANSPORT_WORDS[mode]} to ${server}: ${error.message}; retrying in ${seconds(delay)}${where}`);
        serverIndex++;
        await sleep(delay, signal);
      }
    } finally {
      signal.removeEventListener('abort', onStop);
      this.options.client.close();
    }
  }

  private sessionParams(server: string, hooks: SessionHooks, signal: AbortSignal) {
    const { client, signer, hello } = this.options;
    return { server, client, signer, hello, hooks, signal, timings: this.timings, now: this.now };
  }

  /**
   * Auto mode gives up on WebSocket when something between here and the server refuses the
   * upgrade, or when the socket fails before opening while plain HTTP to the same server works.
   */
  private async shouldFallBack(server: string, end: Extract<SessionEnd, { kind: 'failed' }>, signal: AbortSignal): Promise<boolean> {
    const code = end.error.code;
    // These are the control plane itself answering: WebSocket works, the answer is the point.
    if (code === 'RATE_LIMITED' || code === 'CLOCK_SKEW' || code === 'REPLAYED_REQUEST') return false;
    if (end.upgradeRefused) return true;
    if (signal.aborted) return false;
    try {
      await this.options.client.serverTime(server, this.timings.handshakeTimeoutMs);
      return true;
    } catch {
      return false; // HTTP fails too: a network problem, not a WebSocket one
    }
  }

  private hooks(): SessionHooks {
    // The hello went out with the policy of this moment (a long-poll's first one, at least): a
    // change noticed before the connection was up would otherwise reach the server only at the next one.
    const helloPolicy = this.options.hello.policy;
    return {
      connected: (transport, server, link) => {
        const { logger, client, hello } = this.options;
        const route = client.routeOf(new URL(server));
        logger.info(`connected over ${TRANSPORT_WORDS[transport]} to ${server}${route === 'directly' ? '' : ` ${route}`}`);
        this.save({ transport, server, connected: true, lastError: null });
        this.link = link;
        if (hello.policy && hello.policy !== helloPolicy) this.reportPolicy(hello.policy);
        this.options.jobs.connected(link);
      },
      message: (raw, server) => this.handleMessage(raw, server),
      knownStatus: () => this.state.status,
    };
  }

  private handleMessage(raw: unknown, server: string): SessionEnd | null {
    const { identity, logger } = this.options;
    const message = interpretServerMessage(raw, this.keys, identity.agentId);
    if (message.kind === 'ignored') {
      logger.warn(`ignored a message from ${server}: ${message.why}`);
      return null;
    }
    if (message.kind === 'reconnect') return { kind: 'reconnect', delayMs: Math.floor(this.random() * message.maxDelayMs) };
    const { jobs } = this.options;
    switch (message.kind) {
      case 'status':
        return this.applyStatus(message.payload);
      case 'keys':
        this.applyKeys(message.payload.keys, server);
        return null;
      case 'offers':
        // Work is taken only while the last verified status says approved.
        for (const offer of message.payloads)
          if (this.state.status !== 'approved') logger.warn(`ignored an offer of job ${offer.jobId} from ${server}: this agent is ${this.state.status ?? 'not yet known to be approved'}`);
          else jobs.offer(offer);
        return null;
      case 'cancel':
        jobs.cancel(message.payload);
        return null;
      case 'job':
        jobs.handle(message.message);
        return null;
      case 'server-error':
        jobs.serverError(message.code, message.message, message.jobId);
        return null;
    }
  }

  /**
   * Key rotation: a key set signed by a key this agent already trusts replaces the pinned keys,
   * here and in identity.json, and the next hello says so.
   */
  private applyKeys(keys: ServerKey[], server: string) {
    const { identity, logger, store } = this.options;
    this.keys = pinnedKeys(keys);
    identity.serverKeys = keys;
    this.options.hello.pinnedKeys = keys.map((k) => k.keyId);
    try {
      store?.writeIdentity(identity);
    } catch (err) {
      logger.warn(`cannot save the new server keys to ${store?.identityPath}: ${(err as Error).message}; after a restart the agent trusts the old ones until told again`);
    }
    logger.info(`${server} rotated its signing keys: this agent now trusts ${keys.map((k) => `${k.keyId} (${k.fingerprint})`).join(', ')}`);
  }

  private applyStatus(payload: StatusPayload): SessionEnd | null {
    const { identity, logger } = this.options;
    const terminal = payload.status === 'revoked' || payload.status === 'rejected';
    // An older signed status must not undo a newer one (a replay, or a lagging node); a
    // revocation or rejection is honoured whatever its age.
    if (!terminal && this.state.statusIssuedAt !== null && payload.issuedAt < this.state.statusIssuedAt) {
      logger.debug(`ignored a ${payload.status} status older than the one already applied`);
      return null;
    }
    const previous = this.state.status;
    this.save({ status: payload.status, statusReason: payload.reason, statusIssuedAt: payload.issuedAt });

    if (payload.status === 'pending') {
      if (previous !== 'pending' || this.pendingAnnouncedAt === null || this.now() - this.pendingAnnouncedAt >= PENDING_REMINDER_MS) {
        this.pendingAnnouncedAt = this.now();
        logger.info(
          `waiting for approval: agent "${identity.name}" (${identity.agentId}) is pending; in the Corral console, compare fingerprint ${identity.fingerprint} and verification code ${identity.verificationCode}, then approve it`,
        );
      }
      return null;
    }
    if (payload.status === 'approved') {
      if (previous !== 'approved') logger.info(`approved: agent "${identity.name}" is ready for work${payload.reason ? ` (${payload.reason})` : ''}`);
      return null;
    }
    const code = payload.status === 'revoked' ? 'AGENT_REVOKED' : 'AGENT_REJECTED';
    const reason = payload.reason ?? 'the control plane gave no reason';
    return { kind: 'fatal', error: new AgentError(code, reason, 'fatal') };
  }

  private async fatal(error: AgentError): Promise<RunOutcome> {
    const { store, identity, logger } = this.options;
    const message = describeFatal(error, { identity: store?.identityPath ?? 'identity.json', key: store?.keyPath ?? 'agent.key' }, identity.name);
    if (error.code === 'AGENT_REVOKED' || error.code === 'AGENT_REJECTED') this.save({ status: error.code === 'AGENT_REVOKED' ? 'revoked' : 'rejected' });
    this.save({ connected: false, lastError: message, pid: null });
    logger.error(message);
    // The agent is leaving for good: nothing it started may outlive it unattended.
    await this.options.jobs.terminate(`agent stopping: ${error.code}`);
    return { exitCode: error.exitCode, message };
  }

  private stopped(): RunOutcome {
    this.save({ connected: false, pid: null });
    this.options.logger.info('disconnected; agent stopped');
    return { exitCode: EXIT_CODES.ok, message: null };
  }

  private save(patch: Partial<Omit<StatusFile, 'updatedAt'>>) {
    this.state = { ...this.state, ...patch };
    this.options.stateChanged?.(this.state);
    if (!this.options.store) return;
    try {
      this.options.store.writeStatus(this.state);
    } catch (err) {
      if (!this.storeWarned) this.options.logger.warn(`cannot write ${this.options.store.statusPath}: ${(err as Error).message}; "corral-agent status" will be out of date`);
      this.storeWarned = true;
    }
  }
}
