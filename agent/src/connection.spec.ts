import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_PATHS, AgentHelloSchema, CLOSE_CODES, PROTOCOL_VERSION } from '../../src/protocol/messages';
import type { TransportMode } from './config';
import { AgentConnection, type RunOutcome } from './connection';
import { HttpClient } from './http-client';
import { buildHello } from './host-facts';
import { JobManager } from './jobs/job-manager';
import { LineLogger } from './log';
import { DEFAULT_POLICY } from './policy';
import type { Timings } from './session';
import { StateStore } from './state-store';
import { FAST_TIMINGS, FakeControlPlane, waitFor } from './testing/fake-control-plane';

const FAST: Partial<Timings> = { ...FAST_TIMINGS, healthyAfterMs: 30_000 };

async function unusedUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('the connection loop against a fake control plane', () => {
  let cp: FakeControlPlane;
  let dir: string;
  const running: AbortController[] = [];
  const managers: JobManager[] = [];

  beforeEach(async () => {
    cp = await FakeControlPlane.start();
    dir = mkdtempSync(join(tmpdir(), 'corral-agent-'));
  });
  afterEach(async () => {
    for (const c of running.splice(0)) c.abort();
    for (const m of managers.splice(0)) m.close();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function startAgent(transport: TransportMode, options: { servers?: string[]; timings?: Partial<Timings> } = {}) {
    const lines: string[] = [];
    const logger = new LineLogger({ write: (s: string) => lines.push(s) }, 'debug');
    const store = new StateStore(dir);
    const controller = new AbortController();
    running.push(controller);
    const jobs = new JobManager({ stateDir: dir, agentId: cp.agentId, agentName: cp.agentName, maxJobs: 1, policy: () => DEFAULT_POLICY, logger });
    jobs.init();
    managers.push(jobs);
    const connection = new AgentConnection({
      identity: cp.identity(),
      servers: options.servers ?? [cp.url],
      transport,
      client: new HttpClient({ env: {} }), // no proxy variables from the test machine
      signer: cp.signer(),
      hello: buildHello(DEFAULT_POLICY),
      logger,
      jobs,
      store,
      timings: { ...FAST, ...options.timings },
    });
    let outcome: RunOutcome | null = null;
    const done = connection.run(controller.signal).then((o) => (outcome = o));
    const log = () => lines.join('');
    return { connection, store, controller, done, log, outcome: () => outcome };
  }

  it('over WebSocket: signs the upgrade, follows pending → approved, ignores a forged status, and exits 3 when revoked', async () => {
    const agent = startAgent('ws');
    await waitFor(() => agent.connection.status === 'pending', 'the pending status');

    const upgrade = cp.requests.find((r) => r.path === AGENT_PATHS.ws);
    expect(upgrade).toEqual({ method: 'GET', path: AGENT_PATHS.ws, agentId: cp.agentId, verified: true });
    expect(AgentHelloSchema.parse(cp.hellos[0])).toMatchObject({ type: 'agent.hello', v: PROTOCOL_VERSION, policy: { source: 'default', frozen: false } });
    expect(agent.log()).toContain('connected over websocket to');
    expect(agent.log()).toContain(`fingerprint ${cp.identity().fingerprint} and verification code ${cp.identity().verificationCode}`);
    expect(agent.store.readStatus()).toMatchObject({ status: 'pending', transport: 'websocket', connected: true });

    cp.broadcast(cp.statusEnvelope('approved', { forged: true }));
    await waitFor(() => agent.log().includes('ignored a message'), 'the forged status to be ignored');
    expect(agent.log()).toContain('signature does not verify');
    expect(agent.connection.status).toBe('pending');

    cp.setStatus('approved');
    await waitFor(() => agent.connection.status === 'approved', 'approval');
    expect(agent.log()).toMatch(/info approved: agent "web-01" is ready for work/);

    cp.setStatus('revoked', 'revoked by admin@x');
    await agent.done;
    expect(agent.outcome()).toEqual({ exitCode: 3, message: expect.stringContaining('was revoked') });
    expect(agent.outcome()?.message).toContain('revoked by admin@x');
    expect(agent.store.readStatus()).toMatchObject({ status: 'revoked', connected: false });
  });

  it.each(['ws', 'poll'] as const)('over %s: a local policy change reaches the server at once as agent.policy, and every later hello carries it', async (transport) => {
    const agent = startAgent(transport);
    await waitFor(() => agent.connection.status === 'pending', 'the connection');
    const frozen = { ...DEFAULT_POLICY, source: join(dir, 'policy.json'), frozen: true };
    agent.connection.reportPolicy(frozen);
    await waitFor(() => cp.policyReports.length === 1, 'the policy report');
    expect(cp.policyReports[0]).toEqual(frozen);
    expect(cp.invalidMessages).toEqual([]);

    const hellos = () => (transport === 'ws' ? cp.hellos : cp.polls);
    const before = hellos().length;
    cp.dropConnections();
    await waitFor(() => hellos().length > before, 'the next hello');
    expect(hellos().at(-1)?.policy).toEqual(frozen);
    agent.controller.abort();
    await agent.done;
  });

  it('in auto mode falls back to long-poll when the upgrade is refused with HTTP 400, and polling drives the status', async () => {
    cp.refuseUpgrade = { status: 400, body: { error: { code: 'BAD_REQUEST', message: 'upgrades are not allowed here' } } };
    const agent = startAgent('auto');
    await waitFor(() => agent.connection.status === 'pending', 'the pending status over long-poll');

    expect(cp.upgradeAttempts).toBe(1);
    expect(agent.log()).toContain('falling back to HTTP long-poll');
    expect(agent.store.readStatus()).toMatchObject({ transport: 'long-poll', connected: true });
    const polls = cp.requests.filter((r) => r.path === AGENT_PATHS.poll);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((r) => r.verified && r.agentId === cp.agentId)).toBe(true);
    expect(cp.polls[0]).toMatchObject({ type: 'agent.hello', knownStatus: null });

    cp.setStatus('approved');
    await waitFor(() => agent.connection.status === 'approved', 'approval over long-poll');
    await waitFor(() => cp.polls.some((p) => p.knownStatus === 'approved'), 'a poll that knows the approval');

    cp.setStatus('revoked', 'revoked by admin@x');
    await agent.done;
    expect(agent.outcome()?.exitCode).toBe(3);
    expect(cp.upgradeAttempts).toBe(1); // exactly one loop: no WebSocket retry before its interval
  });

  it('in auto mode tries WebSocket again after the retry interval and switches back when it works', async () => {
    cp.refuseUpgrade = { status: 502, body: 'proxy says no' };
    cp.holdMs = 50;
    const agent = startAgent('auto', { timings: { wsRetryIntervalMs: 200 } });
    await waitFor(() => agent.store.readStatus()?.transport === 'long-poll', 'long-poll');
    cp.refuseUpgrade = null;
    await waitFor(() => cp.wsConnections === 1, 'a WebSocket connection after the retry interval');
    await waitFor(() => agent.store.readStatus()?.transport === 'websocket', 'the switch back to WebSocket');
    expect(cp.upgradeAttempts).toBeGreaterThanOrEqual(2);
  });

  it('ignores a signed status it cannot verify while polling', async () => {
    cp.pollAnswers.push({ status: 200, body: { messages: [cp.statusEnvelope('approved', { forged: true })], serverTime: Date.now() } });
    const agent = startAgent('poll');
    await waitFor(() => agent.connection.status === 'pending', 'the real status after the forged one');
    expect(agent.log()).toContain('ignored a message');
    expect(agent.log()).not.toContain('approved: agent');
  });

  it('exits 3 when the server closes the WebSocket with 4003, quoting the reason', async () => {
    const agent = startAgent('ws');
    await waitFor(() => agent.connection.status === 'pending', 'connection');
    cp.closeAll(CLOSE_CODES.refused, 'AGENT_REVOKED: agent "web-01" was revoked by admin@x');
    await agent.done;
    expect(agent.outcome()?.exitCode).toBe(3);
    expect(agent.outcome()?.message).toContain('agent "web-01" was revoked by admin@x');
  });

  it('exits 1 on a fatal error that is not a refusal (unknown agent)', async () => {
    cp.pollAnswers.push({ status: 401, body: { error: { code: 'AGENT_UNKNOWN', message: 'no such agent' } } });
    const agent = startAgent('poll');
    await agent.done;
    expect(agent.outcome()?.exitCode).toBe(1);
    expect(agent.outcome()?.message).toContain('does not know agent "web-01"');
  });

  it('keeps retrying through clock skew, saying so loudly', async () => {
    cp.pollAnswers.push({ status: 401, body: { error: { code: 'CLOCK_SKEW', message: 'request timestamp is 412 s ahead of the server' } } });
    const agent = startAgent('poll');
    await waitFor(() => agent.connection.status === 'pending', 'the retry after clock skew');
    expect(agent.log()).toMatch(/error CLOCK SKEW: .*412 s ahead/);
  });

  it('honours Retry-After on a 429 before polling again', async () => {
    cp.pollAnswers.push({ status: 429, body: { error: { code: 'RATE_LIMITED', message: 'slow down' } }, headers: { 'retry-after': '1' } });
    const agent = startAgent('poll');
    const started = Date.now();
    await waitFor(() => agent.connection.status === 'pending', 'the retry after 429');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });

  it('fails over to the next server when the first cannot be reached', async () => {
    const dead = await unusedUrl();
    const agent = startAgent('ws', { servers: [dead, cp.url] });
    await waitFor(() => agent.connection.status === 'pending', 'a connection to the second server');
    expect(agent.log()).toContain(`cannot connect over websocket to ${dead}`);
    expect(agent.store.readStatus()?.server).toBe(cp.url);
  });

  it('reconnects when the server asks it to', async () => {
    const agent = startAgent('ws');
    await waitFor(() => cp.wsConnections === 1 && agent.connection.status === 'pending', 'the first connection');
    cp.broadcast({ type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs: 20 });
    await waitFor(() => cp.wsConnections === 2, 'the second connection');
    expect(agent.log()).toContain('asked the agent to reconnect');
  });

  it('detects a silent connection and reconnects', async () => {
    await cp.stop();
    cp = await FakeControlPlane.start({ autoPong: false });
    const agent = startAgent('ws', { timings: { pingIntervalMs: 50, idleTimeoutMs: 200 } });
    await waitFor(() => cp.wsConnections >= 2, 'a reconnect after silence');
    expect(agent.log()).toContain('presumed dead');
  });

  it('disconnects cleanly and resolves with exit code 0 when stopped', async () => {
    const agent = startAgent('ws');
    await waitFor(() => agent.connection.status === 'pending', 'connection');
    agent.controller.abort();
    await agent.done;
    expect(agent.outcome()).toEqual({ exitCode: 0, message: null });
    await waitFor(() => cp.closes.length === 1, 'the close frame');
    expect(cp.closes[0]).toBe(1000);
    expect(agent.store.readStatus()).toMatchObject({ connected: false, pid: null });
  });
});
