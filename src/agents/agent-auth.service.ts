import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { Batcher } from '../database/batcher';
import { ENROLLMENT_SIGNER, publicKeyFromRaw, SIGNATURE_HEADERS, verifyRequestSignature } from '../protocol/identity';
import { type Decided, refusal } from './agent-decision';
import { AgentsErrorCode, AgentsException } from './agents.exception';
import { type AgentStanding, AgentsRepository, type Nonce } from './agents.repository';
import { ClusterEventsService } from '../cluster/cluster-events.service';

// A long-polling agent signs every request; what the node knows of it is kept this long after its last one.
const REMEMBER_MS = 60_000;

export interface SignedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody?: Buffer;
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/**
 * Every agent request proves possession of the agent's private key: a signature over method,
 * path, time, nonce and body. Time bounds the window; a nonce is accepted once within it.
 */
@Injectable()
export class AgentAuthService implements OnModuleInit, OnApplicationShutdown {
  // Many agents connecting at once (a node's restart) cost a few statements, not a few per agent.
  private readonly standings = new Batcher<string, AgentStanding | null>((ids) => this.standingBatch(ids), { maxBatch: 1000, concurrency: 2 });
  private readonly nonces = new Batcher<Nonce, boolean>((n) => this.nonceBatch(n), { maxBatch: 1000, concurrency: 2 });

  // Agents that authenticate request after request (long-polls and their messages): standing and
  // key, dropped as soon as any agent's standing changes (the announcement says which) and when
  // they stop asking. A read that an announcement overtakes is not kept.
  private readonly remembered = new Map<string, { standing: AgentStanding; key: KeyObject; usedAt: number }>();
  private announcements = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly agents: AgentsRepository,
    private readonly events: ClusterEventsService,
  ) {}

  onModuleInit() {
    this.events.on('agent-changed', ({ agentId }: { agentId: string }) => {
      this.announcements++;
      this.remembered.delete(agentId);
    });
    this.events.on('resync', () => {
      this.announcements++;
      this.remembered.clear();
    });
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const [id, r] of this.remembered) if (now - r.usedAt > REMEMBER_MS) this.remembered.delete(id);
    }, REMEMBER_MS).unref();
  }

  onApplicationShutdown() {
    clearInterval(this.timer);
  }

  /** The agent's standing as the database has it now; null once it is deleted. */
  standingOf(agentId: string): Promise<AgentStanding | null> {
    return this.standings.submit(agentId);
  }

  /** The standing of an agent that keeps asking, from memory while nothing about it was announced since. */
  async rememberedStanding(agentId: string): Promise<AgentStanding | null> {
    return (await this.known(agentId, true))?.standing ?? null;
  }

  private async known(agentId: string, remember: boolean): Promise<{ standing: AgentStanding; key: KeyObject } | null> {
    const kept = this.remembered.get(agentId);
    if (kept) {
      kept.usedAt = Date.now();
      return kept;
    }
    const before = this.announcements;
    const standing = await this.standingOf(agentId);
    if (!standing) return null;
    const known = { standing, key: publicKeyFromRaw(standing.publicKey), usedAt: Date.now() };
    if (remember && before === this.announcements) this.remembered.set(agentId, known);
    return known;
  }

  /** The enrolling agent signs with the key it presents: proof it holds that key. */
  async verifyEnrollment(req: SignedRequest, publicKey: string): Promise<void> {
    const parts = await this.checkFreshness(req, ENROLLMENT_SIGNER);
    let key;
    try {
      key = publicKeyFromRaw(publicKey);
    } catch (err) {
      throw new AgentsException(AgentsErrorCode.INVALID_PUBLIC_KEY, (err as Error).message);
    }
    if (!verifyRequestSignature({ ...parts, agentId: ENROLLMENT_SIGNER }, parts.signature, key)) {
      throw new AgentsException(AgentsErrorCode.BAD_SIGNATURE, 'the enrollment request is not signed by the key it presents');
    }
    await this.consumeNonce(`enroll:${publicKey}`, parts.nonce, parts.timestamp);
  }

  /**
   * The agent a signed request comes from, whatever its status; callers decide what it may do.
   * With `remember`, the agent is expected to ask again soon (a long-poll), and its standing is
   * kept until something about it is announced.
   */
  async authenticate(req: SignedRequest, remember = false): Promise<AgentStanding> {
    const agentId = header(req.headers, SIGNATURE_HEADERS.agentId);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(agentId))
      throw new AgentsException(AgentsErrorCode.AGENT_UNKNOWN, 'the request does not name an enrolled agent; enroll this host first');
    const parts = await this.checkFreshness(req, agentId);
    const known = await this.known(agentId, remember);
    if (!known) throw new AgentsException(AgentsErrorCode.AGENT_UNKNOWN, `no agent ${agentId} exists (it may have been deleted); enroll this host again`);
    const agent = known.standing;
    if (!verifyRequestSignature({ ...parts, agentId }, parts.signature, known.key)) {
      await this.agents.recordError(agent.id, 'bad signature: a request claimed this agent without its key');
      throw new AgentsException(AgentsErrorCode.BAD_SIGNATURE, 'the request signature does not match the agent key; is the state dir from another enrollment?');
    }
    await this.consumeNonce(agentId, parts.nonce, parts.timestamp);
    return agent;
  }

  private async checkFreshness(req: SignedRequest, agentId: string) {
    const timestamp = Number(header(req.headers, SIGNATURE_HEADERS.timestamp));
    const nonce = header(req.headers, SIGNATURE_HEADERS.nonce);
    const signature = header(req.headers, SIGNATURE_HEADERS.signature);
    if (!Number.isSafeInteger(timestamp) || !/^[\w-]{16,64}$/.test(nonce) || !signature) {
      throw new AgentsException(AgentsErrorCode.BAD_SIGNATURE, `signed agent requests need the headers ${Object.values(SIGNATURE_HEADERS).join(', ')}`);
    }
    const skewMs = timestamp - Date.now();
    if (Math.abs(skewMs) > this.config.agentClockSkewSeconds * 1000) {
      if (agentId !== ENROLLMENT_SIGNER) await this.agents.recordError(agentId, `clock skew of ${Math.round(skewMs / 1000)} s`).catch(() => undefined);
      throw new AgentsException(
        AgentsErrorCode.CLOCK_SKEW,
        `the agent's clock is ${Math.abs(Math.round(skewMs / 1000))} s ${skewMs > 0 ? 'ahead of' : 'behind'} the server's (at most ${this.config.agentClockSkewSeconds} s allowed); synchronise it with NTP`,
        { skewMs },
      );
    }
    return { method: req.method, path: req.path, timestamp, nonce, body: req.rawBody, signature };
  }

  private async consumeNonce(signer: string, nonce: string, timestamp: number): Promise<void> {
    const fresh = await this.nonces.submit({ signer, nonce, expiresAt: new Date(timestamp + this.config.agentClockSkewSeconds * 1000) });
    if (!fresh) throw new AgentsException(AgentsErrorCode.REPLAYED_REQUEST, 'this signed request was already used; every request needs a fresh nonce');
  }

  private async standingBatch(ids: string[]): Promise<(AgentStanding | null)[]> {
    const found = new Map((await this.agents.findStandings([...new Set(ids)])).map((a) => [a.id, a]));
    return ids.map((id) => found.get(id) ?? null);
  }

  /** Each nonce is accepted once: the first of a batch that repeats one wins, like a later request would lose. */
  private async nonceBatch(nonces: Nonce[]): Promise<boolean[]> {
    const key = (n: { signer: string; nonce: string }) => `${n.signer}\n${n.nonce}`;
    const inserted = new Set((await this.agents.insertNonces(nonces)).map(key));
    return nonces.map((n) => inserted.delete(key(n)));
  }

  /** An agent that may no longer connect tried to: its row says why it was turned away. */
  async recordRefusal(agent: Decided): Promise<void> {
    await this.agents.recordError(agent.id, `refused: ${refusal(agent)}`);
  }

  async pruneNonces(): Promise<void> {
    await this.agents.pruneNonces();
  }
}
