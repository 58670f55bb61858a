import { makeApprovedAgent, makeMember, signUp, type SignedUp } from './helpers/factories';
import { waitFor } from './helpers/control-plane-process';
import { ProtocolAgent } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';
import { privateKeyFromPem, signRequest } from '../src/protocol/identity';
import { AGENT_PATHS } from '../src/protocol/messages';
import { Client } from 'pg';

async function token(owner: SignedUp, body: Record<string, unknown> = {}): Promise<string> {
  const res = await owner.client.post('/api/v1/enrollment-tokens', body);
  if (res.status !== 201) throw new Error(`token: ${res.status} ${res.text}`);
  return res.body.token;
}

describe('agent enrollment, approval and identity on the wire', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
  });
  afterAll(() => app.close());

  it('issues enrollment tokens shown once, admin only, with defaults of 60 minutes and one use', async () => {
    const res = await owner.client.post('/api/v1/enrollment-tokens', {});
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^crl_enr_[0-9A-Za-z]{40}$/);
    expect(res.body.maxUses).toBe(1);
    const minutes = (new Date(res.body.expiresAt).getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(58);
    expect(minutes).toBeLessThanOrEqual(60);
    const list = await owner.client.get('/api/v1/enrollment-tokens');
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
    const operator = await makeMember(app, owner, 'operator');
    expect((await operator.client.post('/api/v1/enrollment-tokens', {})).status).toBe(403);
  });

  it('enrolls an agent as pending with the fingerprint and code it computed itself', async () => {
    const agent = new ProtocolAgent(app.url);
    const res = await agent.enroll(await token(owner));
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('pending');
    expect(res.body.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(res.body.verificationCode).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const listed = await owner.client.get('/api/v1/agents?status=pending');
    expect(listed.body.items.map((a: { id: string }) => a.id)).toContain(agent.agentId);
    expect(listed.body.counts.pending).toBeGreaterThanOrEqual(1);
  });

  it('refuses expired, used-up, revoked and unknown tokens, each saying which', async () => {
    const once = await token(owner, { maxUses: 1 });
    expect((await new ProtocolAgent(app.url).enroll(once)).status).toBe(201);
    const usedUp = await new ProtocolAgent(app.url).enroll(once);
    expect([usedUp.status, usedUp.body.error.code]).toEqual([410, 'ENROLLMENT_TOKEN_USED_UP']);

    const created = await owner.client.post('/api/v1/enrollment-tokens', { maxUses: 5 });
    await owner.client.delete(`/api/v1/enrollment-tokens/${created.body.id}`);
    const revoked = await new ProtocolAgent(app.url).enroll(created.body.token);
    expect([revoked.status, revoked.body.error.code]).toEqual([410, 'ENROLLMENT_TOKEN_REVOKED']);

    const unknown = await new ProtocolAgent(app.url).enroll(`crl_enr_${'x'.repeat(40)}`);
    expect([unknown.status, unknown.body.error.code]).toEqual([401, 'ENROLLMENT_TOKEN_INVALID']);

    const expiring = await owner.client.post('/api/v1/enrollment-tokens', { expiresInMinutes: 1 });
    const db = new Client({ connectionString: app.databaseUrl });
    await db.connect();
    await db.query(`UPDATE enrollment_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.body.id]);
    await db.end();
    const expired = await new ProtocolAgent(app.url).enroll(expiring.body.token);
    expect([expired.status, expired.body.error.code]).toEqual([410, 'ENROLLMENT_TOKEN_EXPIRED']);
  });

  it('refuses an enrollment not signed by the key it presents', async () => {
    const agent = new ProtocolAgent(app.url);
    const other = new ProtocolAgent(app.url);
    const res = await agent.signedFetch(
      'POST',
      AGENT_PATHS.enroll,
      { token: await token(owner), publicKey: other.keys.publicKey, name: 'x', ...agent.hello(), type: undefined, v: undefined },
      { agentId: 'enroll' },
    );
    expect([res.status, res.body.error.code]).toEqual([401, 'BAD_SIGNATURE']);
  });

  it('approves only with the right fingerprint or code, audits refusals and decisions', async () => {
    const agent = new ProtocolAgent(app.url);
    const enrolled = (await agent.enroll(await token(owner))).body;
    const wrong = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: 'AAAA-AAAA' });
    expect([wrong.status, wrong.body.error.code]).toEqual([422, 'FINGERPRINT_MISMATCH']);
    const missing = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, {});
    expect(missing.status).toBe(422);
    expect((await owner.client.post('/api/v1/environments', { name: 'production' })).status).toBe(201);
    const ok = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: enrolled.verificationCode.toLowerCase(), environments: ['Production'] });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'approved', decidedBy: owner.email, environments: ['production'] });
    const byFingerprint = new ProtocolAgent(app.url);
    const second = (await byFingerprint.enroll(await token(owner))).body;
    expect((await owner.client.post(`/api/v1/agents/${byFingerprint.agentId}/approve`, { fingerprint: second.fingerprint })).status).toBe(200);

    const audit = await owner.client.get('/api/v1/audit-events?limit=100');
    const actions = audit.body.items.filter((e: { targetId: string }) => e.targetId === agent.agentId).map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['agent.enrolled', 'agent.approval_refused', 'agent.approved']));
  });

  it('marks a new key under an approved name as a conflict; approving it retires the old identity', async () => {
    const old = new ProtocolAgent(app.url, 'web-01');
    const oldEnrolled = (await old.enroll(await token(owner))).body;
    await owner.client.post(`/api/v1/agents/${old.agentId}/approve`, { fingerprint: oldEnrolled.fingerprint });
    const rebuilt = new ProtocolAgent(app.url, 'web-01');
    const res = await rebuilt.enroll(await token(owner));
    expect(res.body).toMatchObject({ status: 'pending', conflictsWith: old.agentId });
    expect((await owner.client.get(`/api/v1/agents/${rebuilt.agentId}`)).body.conflictsWith).toBe(old.agentId);
    expect((await owner.client.get(`/api/v1/agents/${old.agentId}`)).body.status).toBe('approved');
    await owner.client.post(`/api/v1/agents/${rebuilt.agentId}/approve`, { fingerprint: res.body.fingerprint });
    const retired = await owner.client.get(`/api/v1/agents/${old.agentId}`);
    expect(retired.body).toMatchObject({ status: 'revoked', decisionReason: `replaced by agent ${rebuilt.agentId}` });
  });

  it('rejects replayed requests, bad signatures and skewed clocks, naming the skew', async () => {
    const agent = new ProtocolAgent(app.url);
    await agent.enroll(await token(owner));
    const body = JSON.stringify({ ...agent.hello(), knownStatus: null });
    const headers = { ...signRequest({ method: 'POST', path: AGENT_PATHS.poll, body, agentId: agent.agentId }, privateKeyFromPem(agent.keys.privateKeyPem)), 'content-type': 'application/json' };
    expect((await agent.send('POST', AGENT_PATHS.poll, body, headers)).status).toBe(200);
    const replay = await agent.send('POST', AGENT_PATHS.poll, body, headers);
    expect([replay.status, replay.body.error.code]).toEqual([401, 'REPLAYED_REQUEST']);

    const tampered = await agent.send('POST', AGENT_PATHS.poll, body.replace('linux', 'LINUX'), { ...headers, 'x-corral-nonce': 'a-fresh-nonce-0000000' });
    expect([tampered.status, tampered.body.error.code]).toEqual([401, 'BAD_SIGNATURE']);

    const skewed = await agent.signedFetch('GET', AGENT_PATHS.whoami, undefined, { now: Date.now() - 3_600_000 });
    expect([skewed.status, skewed.body.error.code]).toEqual([401, 'CLOCK_SKEW']);
    expect(skewed.body.error.message).toMatch(/3600 s behind/);
    const view = await owner.client.get(`/api/v1/agents/${agent.agentId}`);
    expect(view.body.connection.lastError).toMatch(/clock skew/);
  });

  it('delivers server-signed status over long-poll: pending at once, then held, then approved when decided', async () => {
    const agent = new ProtocolAgent(app.url);
    const enrolled = (await agent.enroll(await token(owner))).body;
    const first = await agent.poll(null);
    expect(agent.verify(first.body.messages[0])).toMatchObject({ status: 'pending', agentId: agent.agentId });
    const held = agent.poll('pending');
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: enrolled.fingerprint });
    const answer = await held;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(agent.verify(answer.body.messages[0]).status).toBe('approved');
    const view = await owner.client.get(`/api/v1/agents/${agent.agentId}`);
    expect(view.body.connection).toMatchObject({ state: 'online', transport: 'long-poll' });
  });

  it('connects over WebSocket, shows online, and a revocation closes the socket at once and refuses reconnects', async () => {
    const agent = new ProtocolAgent(app.url);
    const enrolled = (await agent.enroll(await token(owner))).body;
    await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: enrolled.fingerprint });
    const socket = await agent.connect();
    await waitFor('the signed status', () => socket.messages.length > 0);
    expect(agent.verify(socket.messages[0]).status).toBe('approved');
    await waitFor('online over websocket', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.state === 'online');
    expect((await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.transport).toBe('websocket');

    const revokedAt = Date.now();
    await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, { reason: 'host decommissioned' });
    await waitFor('the socket to close', () => socket.closed, 5_000, 10);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(socket.closed).toMatchObject({ code: 4003 });
    expect(socket.closed!.reason).toMatch(/^AGENT_REVOKED: /);
    expect(agent.verify(socket.messages[socket.messages.length - 1]).status).toBe('revoked');

    const again = await agent.connect();
    await waitFor('the refusal', () => again.closed);
    expect(again.closed!.code).toBe(4003);
    const poll = await agent.poll('revoked');
    expect([poll.status, poll.body.error.code]).toEqual([403, 'AGENT_REVOKED']);
    const view = await owner.client.get(`/api/v1/agents/${agent.agentId}`);
    expect(view.body.connection.state).toBe('offline');
    expect(view.body.connection.lastError).toMatch(/^refused: AGENT_REVOKED: .*host decommissioned/);
  });

  it('keeps an idle connected agent online without writing its presence again, and offline once it leaves', async () => {
    const agent = new ProtocolAgent(app.url);
    const enrolled = (await agent.enroll(await token(owner))).body;
    await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: enrolled.fingerprint });
    const socket = await agent.connect();
    await waitFor('online', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.state === 'online');
    // As if it had been connected, silent, for an hour: its node's heartbeat is what says it is there.
    const db = new Client({ connectionString: app.databaseUrl });
    await db.connect();
    try {
      await db.query(`UPDATE agents SET last_seen_at = now() - interval '1 hour' WHERE id = $1`, [agent.agentId]);
      const view = (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body;
      expect(view.connection.state).toBe('online');
      expect(Date.now() - new Date(view.connection.lastSeenAt).getTime()).toBeLessThan(60_000);
      socket.close();
      await waitFor('offline once it left', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.state === 'offline');
    } finally {
      await db.end();
    }
  });

  it('keeps another organisation out of agents and tokens (404)', async () => {
    const agent = new ProtocolAgent(app.url);
    const enrolled = (await agent.enroll(await token(owner))).body;
    const other = await signUp(app);
    expect((await other.client.get(`/api/v1/agents/${agent.agentId}`)).status).toBe(404);
    expect((await other.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: enrolled.fingerprint })).status).toBe(404);
    expect((await other.client.get('/api/v1/agents')).body.items).toEqual([]);
    expect((await other.client.get('/api/v1/enrollment-tokens')).body).toEqual([]);
    expect((await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.status).toBe('pending');
  });
});

describe('two control-plane nodes on one database', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({}, { url: a.databaseUrl, drop: async () => undefined });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it('shows an agent connected to node B online through node A, and revocation through A reaches it on B within a second', async () => {
    const owner = await signUp(a);
    const agent = new ProtocolAgent(b.url);
    const enrolled = (await agent.enroll(await token(owner))).body;
    await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: enrolled.fingerprint });
    const socket = await agent.connect();
    await waitFor('online as seen from node A', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.state === 'online');
    const revokedAt = Date.now();
    await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, {});
    await waitFor('node B to close the socket', () => socket.closed, 5_000, 10);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(socket.closed!.code).toBe(4003);
  });

  it("keeps a hello that arrives while node B first reads the agent's organisation, as after a failover", async () => {
    const owner = await signUp(a);
    const agent = await makeApprovedAgent(a, owner);
    // Node B has never served this organisation: admitting the agent's socket reads its limits.
    // Held behind a lock, that read leaves the authenticated socket waiting, and the hello lands then.
    const lock = new Client({ connectionString: a.databaseUrl });
    // Another session to watch from: pg_stat_activity stays as it was first read within a transaction.
    const watch = new Client({ connectionString: a.databaseUrl });
    await Promise.all([lock.connect(), watch.connect()]);
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE organizations IN ACCESS EXCLUSIVE MODE');
      const socket = await agent.at(b.url).connect({ hello: false });
      await waitFor('node B to wait for the organisation', async () => {
        const { rows } = await watch.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%"organizations"%'`);
        return rows.length > 0;
      });
      await new Promise<void>((resolve, reject) => socket.ws.send(JSON.stringify(agent.hello()), (err) => (err ? reject(err) : resolve())));
      await lock.query('COMMIT');
      const status = await socket.next('the signed status answering the hello', (m) => m.type === 'signed' && agent.verify(m), 0, 5_000);
      expect(status.status).toBe('approved');
      expect(socket.closed).toBeUndefined();
      socket.close();
    } finally {
      await Promise.all([lock.end(), watch.end()]);
    }
  });
});

describe('reconnect storms', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp({ AGENT_CONNECTS_PER_SECOND: '1' });
    owner = await signUp(app);
  });
  afterAll(() => app.close());

  it('admits new agent connections at the configured rate and tells the rest when to come back, each a later second', async () => {
    const agents = await Promise.all([1, 2, 3].map(() => makeApprovedAgent(app, owner)));
    const sockets = await Promise.all(agents.slice(0, 2).map((a) => a.connect()));
    const closed = await waitFor('one of two simultaneous connections turned away', () => sockets.find((s) => s.closed)?.closed);
    expect(closed.code).toBe(4029);
    expect(closed.reason).toMatch(/^RATE_LIMITED: .*retry-after=\d+$/);
    const polled = await agents[2].poll(null);
    expect([polled.status, polled.body.error.code]).toEqual([429, 'RATE_LIMITED']);
    // At one a second, the one turned away second is told to come a second after the first.
    expect(Number(polled.headers.get('retry-after'))).toBeGreaterThan(Number(/retry-after=(\d+)/.exec(closed.reason)![1]));
    for (const s of sockets) s.close();
  });
});

describe('half-open connections', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp({ AGENT_PING_SECONDS: '1' });
    owner = await signUp(app);
  });
  afterAll(() => app.close());

  it('are dropped after missed pings; an agent that answers them, or pings on its own, stays and is not pinged needlessly', async () => {
    const [answering, deaf, pinging] = await Promise.all([1, 2, 3].map(() => makeApprovedAgent(app, owner)));
    const answers = await answering.connect();
    const silent = await deaf.connect({ autoPong: false });
    const own = await pinging.connect({ autoPong: false });
    let ownPings = 0;
    const pinger = setInterval(() => {
      own.ws.ping();
      ownPings++;
    }, 250);
    try {
      // Three pings unanswered, then the fourth round ends it.
      await waitFor('the unanswered connection to be dropped', () => silent.closed, 15_000);
      expect(silent.pings).toBe(3);
      await waitFor('two more rounds', () => ownPings >= 12 && answers.pings >= 2, 15_000);
      expect(answers.closed).toBeUndefined();
      expect(own.closed).toBeUndefined();
      // Heard from all along, it was never pinged.
      expect(own.pings).toBe(0);
    } finally {
      clearInterval(pinger);
      answers.close();
      own.close();
    }
  });
});

describe('a node that stops', () => {
  it('tells its agents to come back, spread over the time it needs to admit them, before it closes their sockets', async () => {
    const app = await startTestApp({ AGENT_CONNECTS_PER_SECOND: '2' });
    try {
      const owner = await signUp(app);
      const agents = await Promise.all([1, 2, 3].map(() => makeApprovedAgent(app, owner)));
      const sockets = [];
      // Two a second are admitted: connect them one after the other.
      for (const agent of agents) {
        const socket = await waitFor(
          'admitted',
          async () => {
            const s = await agent.connect();
            await waitFor('the status', () => s.messages.length > 0 || s.closed);
            return s.closed ? undefined : s;
          },
          10_000,
          200,
        );
        sockets.push(socket);
      }
      await app.process.stop('SIGTERM');
      for (const socket of sockets) {
        await waitFor('the socket closed', () => socket.closed);
        expect(socket.closed!.code).toBe(1001);
        const reconnect = socket.messages.find((m) => m.type === 'server.reconnect');
        // Three agents at two a second: spread over a second and a half.
        expect(reconnect).toMatchObject({ type: 'server.reconnect', maxDelayMs: 1500 });
      }
    } finally {
      await app.close();
    }
  });
});
