import type { IncomingMessage } from 'node:http';
import { type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { NodeLifecycle } from '../nodes/node-lifecycle.service';
import { LiveConnectionsService, type Release, TooManyConnectionsException } from '../orgs/live-connections.service';
import { messagesOf, packFrames } from '../protocol/frames';
import { AGENT_PATHS, type AgentJobMessage, type AgentMessage, AgentMessageSchema, type AgentPolicy, CLOSE_CODES, type ServerMessage, type Transport } from '../protocol/messages';
import { AgentAuthService } from './agent-auth.service';
import { AgentConnectionsService } from './agent-connections.service';
import { refusal } from './agent-decision';
import { AgentDelivery } from './agent-delivery.service';
import { AgentNotices } from './agent-notices.service';
import { AgentPolicyReports } from './agent-policy.service';
import { AgentPresence } from './agent-presence.service';
import { AgentSession, type ConnectedAgent } from './agent-session';
import { AgentsException } from './agents.exception';
import { ServerKeysService } from './server-keys.service';
import { SessionRegistry } from './session-registry.service';

const HELLO_TIMEOUT_MS = 10_000;
const MISSED_PINGS_ALLOWED = 3;
// The largest frame an agent may send: its frames of several messages stay under MAX_FRAME_BYTES,
// and one message alone (a log chunk of MAX_LOG_CHUNK_CHARS, escaped) under this.
const MAX_AGENT_FRAME_BYTES = 1024 * 1024;

function closeCodeFor(code: string): number {
  if (code === 'CLOCK_SKEW') return CLOSE_CODES.clockSkew;
  if (code === 'AGENT_REVOKED' || code === 'AGENT_REJECTED') return CLOSE_CODES.refused;
  return CLOSE_CODES.unauthenticated;
}

/**
 * One agent's WebSocket once it is authenticated (its session): hello, then its job messages.
 * Messages about one job are handled one at a time, in arrival order (log chunks and reports
 * depend on it); different jobs' messages go on side by side. A plain object per socket, not a
 * set of closures: 10,000 idle agents should cost little more than their sockets.
 */
class AgentSocket extends AgentSession {
  readonly transport: Transport = 'websocket';
  missedPings = 0;
  /** Something (a message, a ping, a pong) arrived since the pinger last came round. */
  heard = false;
  private hello: Promise<void> | undefined;
  private jobs: Map<string, Promise<void>> | undefined;
  private outbox: string[] | undefined;
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly agent: ConnectedAgent,
    private readonly gateway: AgentGateway,
  ) {
    super();
    this.helloTimer = setTimeout(() => !this.hello && this.close(CLOSE_CODES.unauthenticated, 'BAD_REQUEST: send agent.hello first'), HELLO_TIMEOUT_MS);
  }

  /** Queued, and sent with whatever else is for this agent at this moment: one frame, not one per message. */
  send(message: ServerMessage) {
    if (!this.outbox) {
      this.outbox = [];
      setImmediate(() => this.flush());
    }
    this.outbox.push(JSON.stringify(message));
  }

  close(code: number, reason: string) {
    this.flush();
    this.socket.close(code, reason);
  }

  receive(raw: string) {
    this.heard = true;
    let frame: unknown;
    try {
      frame = JSON.parse(raw);
    } catch {
      return this.close(1007, 'BAD_REQUEST: messages must be JSON');
    }
    const messages = messagesOf(frame);
    // An empty list first would leave the connection waiting for the hello timeout: refused now, as any other first message that is not a hello.
    if (!messages.length && !this.hello) return this.close(CLOSE_CODES.unauthenticated, 'BAD_REQUEST: send agent.hello first');
    for (const parsed of messages) this.accept(parsed);
  }

  override closed() {
    clearTimeout(this.helloTimer);
    super.closed();
  }

  private flush() {
    const outbox = this.outbox;
    this.outbox = undefined;
    if (!outbox?.length || this.socket.readyState !== this.socket.OPEN) return;
    for (const frame of packFrames(outbox)) this.socket.send(frame);
  }

  private accept(parsed: unknown) {
    const message = AgentMessageSchema.safeParse(parsed);
    if (!message.success) return this.send(this.gateway.badMessage(this.agent, parsed, message.error.issues));
    const m = message.data;
    if (m.type === 'agent.hello') {
      clearTimeout(this.helloTimer);
      this.hello = (this.hello ?? Promise.resolve()).then(() => this.gateway.hello(this, m)).catch((err: Error) => this.gateway.failed(this, err));
      return;
    }
    if (!this.hello) return this.close(CLOSE_CODES.unauthenticated, 'BAD_REQUEST: send agent.hello first');
    if (m.type === 'agent.policy') {
      // Offers made on this socket from now on follow it; it is stored in turn with the hellos.
      this.policy = m.policy;
      this.hello = this.hello.then(() => this.gateway.policy(this, m)).catch((err: Error) => this.gateway.failed(this, err));
      return;
    }
    const key = m.type === 'agent.job.heartbeat' ? '' : m.jobId;
    const jobs = (this.jobs ??= new Map());
    const next = (jobs.get(key) ?? this.hello)
      .then(async () => {
        for (const reply of await this.gateway.work(this.agent, m)) this.send(reply);
      })
      .catch((err: Error) => this.gateway.failed(this, err))
      .finally(() => jobs.get(key) === next && jobs.delete(key));
    jobs.set(key, next);
  }
}

/** The agents' WebSocket: authenticated by the upgrade request's signature, then hello, status, pings. */
@WebSocketGateway({ path: AGENT_PATHS.ws, maxPayload: MAX_AGENT_FRAME_BYTES })
export class AgentGateway implements OnGatewayConnection, OnModuleInit, OnApplicationShutdown {
  // Sockets in slices, one slice pinged each second: every socket once per AGENT_PING_SECONDS,
  // and never all 10,000 in the same moment.
  private slices: Set<AgentSocket>[] = [];
  private nextSlice = 0;
  private pinger: NodeJS.Timeout | undefined;

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly auth: AgentAuthService,
    private readonly connections: AgentConnectionsService,
    private readonly registry: SessionRegistry,
    private readonly presence: AgentPresence,
    private readonly delivery: AgentDelivery,
    private readonly notices: AgentNotices,
    private readonly serverKeys: ServerKeysService,
    private readonly lifecycle: NodeLifecycle,
    private readonly policies: AgentPolicyReports,
    private readonly live: LiveConnectionsService,
    private readonly logger: CorralLogger,
  ) {}

  onModuleInit() {
    // Half-open connections are found by missing pongs, within a few ping intervals. A connection
    // heard from since the last round needs no ping: agents ping on their own, and a pong counts too.
    this.slices = Array.from({ length: this.config.agentPingSeconds }, () => new Set<AgentSocket>());
    let tick = 0;
    this.pinger = setInterval(() => {
      for (const s of this.slices[tick++ % this.slices.length]) {
        if (s.heard) {
          s.heard = false;
          s.missedPings = 0;
        } else if (++s.missedPings > MISSED_PINGS_ALLOWED) s.socket.terminate();
        else s.socket.ping();
      }
    }, 1000).unref();
  }

  onApplicationShutdown() {
    clearInterval(this.pinger);
  }

  async handleConnection(socket: WebSocket, req: IncomingMessage) {
    // Messages may arrive while the signature is checked and the connection admitted (reading
    // the organisation's limits, on a node that has not served it yet); keep them for afterwards.
    const early: string[] = [];
    const buffer = (data: Buffer) => early.push(data.toString());
    socket.on('message', buffer);
    if (this.lifecycle.draining) return socket.close(CLOSE_CODES.draining, 'NODE_DRAINING: this control-plane node is draining; connect to another');
    // Admission comes before authentication, which costs database work.
    const wait = this.connections.admit();
    if (wait !== null) return socket.close(CLOSE_CODES.rateLimited, `RATE_LIMITED: too many agents connecting at once; retry-after=${wait}`);
    let agent;
    try {
      agent = await this.auth.authenticate({ method: 'GET', path: req.url ?? '', headers: req.headers });
    } catch (err) {
      const code = err instanceof AgentsException ? err.code : 'INTERNAL';
      const message = err instanceof AgentsException ? err.message : 'the server could not authenticate this connection';
      socket.close(closeCodeFor(code), `${code}: ${message}`.slice(0, 120));
      return;
    }
    if (agent.status === 'revoked' || agent.status === 'rejected') {
      await this.auth.recordRefusal(agent);
      socket.send(JSON.stringify(this.notices.statusMessage(agent)));
      socket.close(CLOSE_CODES.refused, refusal(agent));
      return;
    }
    const release = await this.countConnection(socket, agent.organizationId);
    if (!release) return;
    const connection = new AgentSocket(socket, { id: agent.id, name: agent.name, organizationId: agent.organizationId }, this);
    this.slices[this.nextSlice++ % this.slices.length].add(connection);
    // From here on nothing is awaited before the early messages are replayed, so none is lost or reordered.
    socket.off('message', buffer);
    socket.on('message', (data: Buffer) => connection.receive(data.toString()));
    const heard = () => (connection.heard = true);
    socket.on('pong', heard);
    socket.on('ping', heard);
    socket.on('close', () => {
      release();
      this.closed(connection);
    });
    this.registry.addSocket(connection);
    for (const raw of early) connection.receive(raw);
  }

  /** The connection counted among its organisation's live ones, or closed (and null) when that is at its limit. */
  private async countConnection(socket: WebSocket, organizationId: string): Promise<Release | null> {
    try {
      const release = await this.live.open(organizationId, null);
      // Gone while its organisation's limits were read: nothing will release it later.
      if (socket.readyState === socket.OPEN) return release;
      release();
    } catch (err) {
      if (err instanceof TooManyConnectionsException)
        socket.close(CLOSE_CODES.rateLimited, `TOO_MANY_CONNECTIONS: your organisation is at its live connection limit; retry-after=${err.headers['Retry-After']}`);
      else socket.close(1011, 'INTERNAL: the server could not admit this connection; retry later');
    }
    return null;
  }

  /** The hello: the agent is connected here now, is told its standing, and gets what waits for it. */
  async hello(connection: AgentSocket, hello: Extract<AgentMessage, { type: 'agent.hello' }>) {
    const { hostname, os, arch, agentVersion, policy, pinnedKeys } = hello;
    connection.heardHello(hello);
    const agentId = connection.agent.id;
    const fresh = await this.presence.markConnected(agentId, 'websocket', { hostname, os, arch, agentVersion, policy: policy ?? null });
    if (!fresh) return connection.close(CLOSE_CODES.unauthenticated, 'AGENT_UNKNOWN: this agent was deleted; enroll the host again');
    connection.send(this.notices.statusMessage(fresh));
    const keySet = this.serverKeys.keySetFor(agentId, pinnedKeys);
    if (keySet) connection.send(keySet);
    // Revoked between the upgrade and now: told, and turned away here too.
    if (fresh.status === 'revoked' || fresh.status === 'rejected') return connection.close(CLOSE_CODES.refused, refusal(fresh));
    const approved = fresh.status === 'approved';
    connection.toldStanding(approved, this.lifecycle.draining);
    if (approved) this.delivery.deliver(agentId, true);
  }

  /** The host's local policy changed while the agent is connected here. */
  policy(connection: AgentSocket, message: AgentPolicy) {
    return this.policies.reported(connection.agent, message.policy, 'websocket');
  }

  work(agent: ConnectedAgent, message: AgentJobMessage) {
    return this.delivery.workAttached.handle(agent, [message]);
  }

  badMessage(agent: ConnectedAgent, parsed: unknown, issues: { path: PropertyKey[]; message: string }[]): ServerMessage {
    this.logger.event('warn', 'agent sent a message the server does not understand', { agentId: agent.id, issues: issues.slice(0, 3) }, 'AgentGateway');
    const jobId = typeof (parsed as { jobId?: unknown })?.jobId === 'string' ? (parsed as { jobId: string }).jobId : null;
    const problems = issues.slice(0, 3).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
    return { type: 'server.error', jobId: jobId && /^[0-9a-f-]{36}$/i.test(jobId) ? jobId : null, code: 'BAD_MESSAGE', message: problems.join('; ') };
  }

  failed(connection: AgentSocket, err: Error) {
    this.logger.event('error', 'agent message failed', { agentId: connection.agent.id, err: err.message }, 'AgentGateway');
  }

  private closed(connection: AgentSocket) {
    connection.closed();
    for (const slice of this.slices) slice.delete(connection);
    const agentId = connection.agent.id;
    // A node shutting down clears all its agents' presence in one statement instead.
    if (this.registry.removeSocket(connection) && !this.lifecycle.stopping) this.presence.markDisconnected(agentId);
  }
}
