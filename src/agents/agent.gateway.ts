import type { IncomingMessage } from 'node:http';
import { type OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { AGENT_PATHS, AgentMessageSchema, CLOSE_CODES, type ServerMessage } from '../protocol/messages';
import type { Agent } from './agent.entity';
import { AgentAuthService } from './agent-auth.service';
import { type AgentConnection, AgentConnectionsService, refusal } from './agent-connections.service';
import { AgentsException } from './agents.exception';
import { AgentsRepository } from './agents.repository';
import { ServerKeysService } from './server-keys.service';

const HELLO_TIMEOUT_MS = 10_000;
const MISSED_PINGS_ALLOWED = 3;

function closeCodeFor(code: string): number {
  if (code === 'CLOCK_SKEW') return CLOSE_CODES.clockSkew;
  if (code === 'AGENT_REVOKED' || code === 'AGENT_REJECTED') return CLOSE_CODES.refused;
  return CLOSE_CODES.unauthenticated;
}

/** The agents' WebSocket: authenticated by the upgrade request's signature, then hello, status, pings. */
@WebSocketGateway({ path: AGENT_PATHS.ws })
export class AgentGateway implements OnGatewayConnection {
  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly auth: AgentAuthService,
    private readonly connections: AgentConnectionsService,
    private readonly agents: AgentsRepository,
    private readonly serverKeys: ServerKeysService,
    private readonly logger: CorralLogger,
  ) {}

  async handleConnection(socket: WebSocket, req: IncomingMessage) {
    // Messages may arrive while the signature is being checked; keep them for afterwards.
    const early: string[] = [];
    const buffer = (data: Buffer) => early.push(data.toString());
    socket.on('message', buffer);
    if (this.connections.draining) return socket.close(CLOSE_CODES.draining, 'NODE_DRAINING: this control-plane node is draining; connect to another');
    // Admission comes before authentication, which costs a database write.
    const wait = this.connections.admit();
    if (wait !== null) return socket.close(CLOSE_CODES.rateLimited, `RATE_LIMITED: too many agents connecting at once; retry-after=${wait}`);
    let agent: Agent;
    try {
      agent = await this.auth.authenticate({ method: 'GET', path: req.url ?? '', headers: req.headers });
    } catch (err) {
      const code = err instanceof AgentsException ? err.code : 'INTERNAL';
      const message = err instanceof AgentsException ? err.message : 'the server could not authenticate this connection';
      socket.close(closeCodeFor(code), `${code}: ${message}`.slice(0, 120));
      return;
    }
    socket.off('message', buffer);
    if (agent.status === 'revoked' || agent.status === 'rejected') {
      await this.agents.recordError(agent.id, `refused: ${refusal(agent)}`);
      socket.send(JSON.stringify(this.connections.statusMessage(agent)));
      socket.close(CLOSE_CODES.refused, refusal(agent));
      return;
    }
    this.serve(socket, agent, early);
  }

  private serve(socket: WebSocket, agent: Agent, early: string[]) {
    const connection: AgentConnection = {
      transport: 'websocket',
      maxJobs: 1,
      send: (message: ServerMessage) => socket.readyState === socket.OPEN && socket.send(JSON.stringify(message)),
      close: (code, reason) => socket.close(code, reason),
    };
    let helloSeen = false;
    let missedPings = 0;
    const helloTimer = setTimeout(() => !helloSeen && socket.close(CLOSE_CODES.unauthenticated, 'BAD_REQUEST: send agent.hello first'), HELLO_TIMEOUT_MS);
    // Half-open connections are found by missing pongs, within a few ping intervals.
    const pinger = setInterval(() => {
      if (++missedPings > MISSED_PINGS_ALLOWED) return socket.terminate();
      socket.ping();
    }, this.config.agentPingSeconds * 1000);
    socket.on('pong', () => (missedPings = 0));

    const onMessage = async (raw: string) => {
      missedPings = 0;
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        return socket.close(1007, 'BAD_REQUEST: messages must be JSON');
      }
      const message = AgentMessageSchema.safeParse(parsed);
      if (!message.success) {
        this.logger.event('warn', 'agent sent a message the server does not understand', { agentId: agent.id, issues: message.error.issues.slice(0, 3) }, 'AgentGateway');
        const jobId = typeof (parsed as { jobId?: unknown })?.jobId === 'string' ? (parsed as { jobId: string }).jobId : null;
        const problems = message.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`);
        return connection.send({ type: 'server.error', jobId: jobId && /^[0-9a-f-]{36}$/i.test(jobId) ? jobId : null, code: 'BAD_MESSAGE', message: problems.join('; ') });
      }
      if (message.data.type !== 'agent.hello') {
        if (!helloSeen) return socket.close(CLOSE_CODES.unauthenticated, 'BAD_REQUEST: send agent.hello first');
        for (const reply of await this.connections.workAttached.handle(agent, [message.data])) connection.send(reply);
        return;
      }
      helloSeen = true;
      const { hostname, os, arch, agentVersion, policy, maxJobs, pinnedKeys } = message.data;
      connection.maxJobs = maxJobs;
      connection.pinnedKeys = pinnedKeys;
      await this.agents.markConnected(agent.id, this.connections.nodeId, 'websocket', { hostname, os, arch, agentVersion, policy });
      const fresh = await this.agents.findForAuthentication(agent.id);
      if (!fresh) return socket.close(CLOSE_CODES.unauthenticated, 'AGENT_UNKNOWN: this agent was deleted; enroll the host again');
      connection.send(this.connections.statusMessage(fresh));
      const keySet = this.serverKeys.keySetFor(agent.id, pinnedKeys);
      if (keySet) connection.send(keySet);
      // Revoked between the upgrade and now: told, and turned away here too.
      if (fresh.status === 'revoked' || fresh.status === 'rejected') return socket.close(CLOSE_CODES.refused, refusal(fresh));
      if (fresh.status === 'approved') this.connections.deliver(agent.id, true);
    };
    // One message at a time, in arrival order: log chunks and reports depend on it.
    let queue = Promise.resolve();
    const enqueue = (raw: string) => {
      queue = queue.then(() => onMessage(raw)).catch((err: Error) => this.logger.event('error', 'agent message failed', { agentId: agent.id, err: err.message }, 'AgentGateway'));
    };
    socket.on('message', (data: Buffer) => enqueue(data.toString()));
    socket.on('close', () => {
      clearTimeout(helloTimer);
      clearInterval(pinger);
      if (this.connections.removeSocket(agent.id, connection)) void this.agents.markDisconnected(agent.id, this.connections.nodeId, null).catch(() => undefined);
    });
    this.connections.addSocket(agent.id, connection);
    for (const raw of early) enqueue(raw);
  }
}
