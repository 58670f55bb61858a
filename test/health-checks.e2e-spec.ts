import type { HealthCheckResult, LocalPolicy } from '../src/protocol/messages';
import { waitFor } from './helpers/control-plane-process';
import { makeApprovedAgent, makeMember, signUp, type SignedUp } from './helpers/factories';
import { offerIn, type ProtocolAgent } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

const OPEN_POLICY: LocalPolicy = { source: 'default', allowedJobKinds: ['script', 'deployment', 'health-check'], allowScripts: true, runAs: null, allowedOrganizations: null, frozen: false };

function result(verdict: HealthCheckResult['verdict'], problems: string[] = [], checkedAt = Date.now()): HealthCheckResult {
  return {
    kind: 'health-check',
    payloadVersion: 1,
    verdict,
    problems,
    facts: {
      agentVersion: '0.1.0',
      hostname: 'web-1',
      os: 'Linux 6.1',
      arch: 'x64',
      uptimeSeconds: 3600,
      checkedAt,
      stateDir: { path: '/var/lib/corral-agent', freeBytes: 5e9, totalBytes: 20e9, writable: true },
      interpreters: { bash: { path: '/bin/bash', version: '5.2' }, sh: { path: '/bin/sh', version: null }, node: { path: '/usr/bin/node', version: 'v20.20.2' }, pwsh: null },
      policy: OPEN_POLICY,
    },
  };
}

async function agentHealth(owner: SignedUp, agentId: string, taskId: string) {
  return waitFor(`health of ${agentId} from ${taskId}`, async () => {
    const res = await owner.client.get(`/api/v1/agents/${agentId}`);
    return res.body.health?.taskId === taskId ? res.body.health : undefined;
  });
}

describe('health checks: the second kind of job', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp({ JOB_REQUERY_SECONDS: '1', JOB_LEASE_SECONDS: '5', JOB_OFFER_TIMEOUT_SECONDS: '2', JOB_DELIVERY_TIMEOUT_SECONDS: '5' });
    owner = await signUp(app);
  });
  afterAll(() => app.close());

  it("offers a health-check job with no script; the verdict and facts the agent reports are the agent's health, in the list too", async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const res = await owner.client.post('/api/v1/agents/health-checks', { agentIds: [agent.agentId] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'health-check', script: null, skipped: [], jobs: [{ agentId: agent.agentId }] });
    const offer = await socket.next('health-check offer', (m) => offerIn(agent, m, res.body.id));
    expect(offer).toMatchObject({ kind: 'health-check', payloadVersion: 1 });
    expect(offer).not.toHaveProperty('script');

    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId);
    socket.send({ type: 'agent.job.log', jobId: offer.jobId, attempt: 1, seq: 0, stream: 'system', text: 'health: warning\n' });
    const found = result('warning', ['only 7 % of the disk holding /var/lib/corral-agent is free']);
    socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: null, signal: null, message: null, logChunks: 1, result: found });
    await socket.next('finish ack', (m) => m.type === 'server.job.finishAck' && m.jobId === offer.jobId);

    const health = await agentHealth(owner, agent.agentId, res.body.id);
    expect(health).toMatchObject({ verdict: 'warning', problems: found.problems, facts: { hostname: 'web-1', interpreters: { pwsh: null } } });
    expect(Math.abs(health.clockOffsetMs)).toBeLessThan(5_000);
    const list = await owner.client.get('/api/v1/agents');
    expect(list.body.items.find((a: { id: string }) => a.id === agent.agentId).health.verdict).toBe('warning');
    const task = await owner.client.get(`/api/v1/tasks/${res.body.id}`);
    expect(task.body).toMatchObject({ kind: 'health-check', state: 'succeeded' });
    socket.close();
  });

  it('warns about a clock far off, and records an agent that never answers as unhealthy, saying why', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const first = await owner.client.post('/api/v1/agents/health-checks', { agentIds: [agent.agentId] });
    const offer = await socket.next('offer', (m) => offerIn(agent, m, first.body.id));
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId);
    socket.send({
      type: 'agent.job.finish',
      jobId: offer.jobId,
      attempt: 1,
      outcome: 'succeeded',
      exitCode: null,
      signal: null,
      message: null,
      logChunks: 0,
      result: result('healthy', [], Date.now() + 60_000),
    });
    const skewed = await agentHealth(owner, agent.agentId, first.body.id);
    expect(skewed.verdict).toBe('warning');
    expect(skewed.problems.join(' ')).toMatch(/clock is 6\d\.\d s ahead/);
    socket.close();
    await waitFor('agent offline', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.state === 'offline');

    // Offline: nobody accepts the job, and the delivery timeout ends it.
    const second = await owner.client.post('/api/v1/agents/health-checks', { agentIds: [agent.agentId] });
    const lost = await agentHealth(owner, agent.agentId, second.body.id);
    expect(lost).toMatchObject({ verdict: 'unhealthy', facts: null });
    expect(lost.problems[0]).toMatch(/the check failed: no approved agent accepted the job/);
  });

  it('checks every approved agent when none is named, skipping those whose policy forbids it; a named one that forbids it is refused', async () => {
    const org = await signUp(app);
    const allowed = await makeApprovedAgent(app, org);
    const forbids = await makeApprovedAgent(app, org, (a) => (a.policy = { ...OPEN_POLICY, source: '/etc/corral/agent-policy.json', allowedJobKinds: ['script'] }));
    (await forbids.connect()).close(); // reports its policy
    await waitFor('policy reported', async () => (await org.client.get(`/api/v1/agents/${forbids.agentId}`)).body.policy?.allowedJobKinds?.length === 1);

    const all = await org.client.post('/api/v1/agents/health-checks', {});
    expect(all.status).toBe(201);
    expect(all.body.jobs.map((j: { agentId: string }) => j.agentId)).toEqual([allowed.agentId]);
    expect(all.body.skipped).toEqual([
      { agentId: forbids.agentId, name: expect.any(String), reason: expect.stringMatching(/job kind "health-check" is not allowed by \/etc\/corral\/agent-policy.json/) },
    ]);

    const named = await org.client.post('/api/v1/agents/health-checks', { agentIds: [forbids.agentId] });
    expect(named.status).toBe(422);
    expect(named.body.error.code).toBe('TARGETS_REFUSED');
    expect(named.body.error.message).toMatch(/job kind "health-check" is not allowed/);
  });

  it("needs an admin, refuses bad input clearly, and never reaches another organisation's agents", async () => {
    const agent: ProtocolAgent = await makeApprovedAgent(app, owner);
    const operator = await makeMember(app, owner, 'operator');
    expect((await operator.client.post('/api/v1/agents/health-checks', {})).status).toBe(403);

    const bad = await owner.client.post('/api/v1/agents/health-checks', { agentIds: ['nope', 'nope'] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.message).toMatch(/agentIds/);
    expect((await owner.client.post('/api/v1/agents/health-checks', { agentIds: [] })).status).toBe(422);

    const stranger = await signUp(app);
    const theirs = await stranger.client.post('/api/v1/agents/health-checks', { agentIds: [agent.agentId] });
    expect(theirs.status).toBe(422);
    expect(theirs.body.error.message).toMatch(/no such agent in this organisation/);
    const none = await stranger.client.post('/api/v1/agents/health-checks', {});
    expect(none.status).toBe(422);
    expect(none.body.error.code).toBe('NO_AGENTS');
    expect((await stranger.client.get(`/api/v1/agents/${agent.agentId}`)).status).toBe(404);
  });
});
