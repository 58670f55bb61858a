import { waitFor } from './helpers/control-plane-process';
import { makeApiKey, makeApprovedAgent, signUp, type SignedUp, uniqueEmail } from './helpers/factories';
import { offerIn } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

const MISSING_ID = '00000000-0000-4000-8000-000000000000';

// Each organisation's limits on a shared control plane: the defaults, a platform operator's own
// values for one organisation, and what happens at each limit.
describe('organisation limits', () => {
  let app: TestApp;
  let operator: SignedUp;
  let a: SignedUp;
  let b: SignedUp;
  const operatorEmail = uniqueEmail('operator');

  beforeAll(async () => {
    app = await startTestApp({ CORRAL_PLATFORM_OPERATORS: operatorEmail, ORG_MAX_QUEUED_TASKS: '50', ORG_API_REQUESTS_PER_SECOND: '200', JOB_REQUERY_SECONDS: '1' });
    operator = await signUp(app, 'Platform', operatorEmail);
    a = await signUp(app, 'Limited A');
    b = await signUp(app, 'Other B');
  });
  afterAll(() => app?.close());

  const setLimits = (orgId: string, body: Record<string, unknown>) => operator.client.patch(`/api/v1/platform/organizations/${orgId}/limits`, body);
  const createTask = (owner: SignedUp, agentId: string) => owner.client.post('/api/v1/tasks', { targets: { agentIds: [agentId] }, script: { syntax: 'sh', body: 'true' } });

  it('shows an organisation its limits, the defaults from configuration', async () => {
    const res = await a.client.get('/api/v1/organization/limits');
    expect(res.status).toBe(200);
    const defaults = { queuedTasks: 50, apiRequestsPerSecond: 200, logBytesPerJob: 10485760 };
    expect(res.body).toEqual({ organizationId: a.organizationId, limits: defaults, defaults, own: {} });
  });

  it('lets only a platform operator see and change every organisation’s limits; to others the routes do not exist', async () => {
    const byOwner = [await a.client.get('/api/v1/platform/organizations'), await a.client.patch(`/api/v1/platform/organizations/${a.organizationId}/limits`, { queuedTasks: 1000 })];
    for (const res of byOwner) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('ROUTE_NOT_FOUND');
    }
    const list = await operator.client.get('/api/v1/platform/organizations');
    expect(list.status).toBe(200);
    expect(list.body.map((o: { organizationId: string }) => o.organizationId)).toEqual(expect.arrayContaining([a.organizationId, b.organizationId, operator.organizationId]));

    const bad = await setLimits(a.organizationId, { queuedTasks: 0, apiRequestsPerSecond: 'many', logBytesPerJob: 12, surprise: 1 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['apiRequestsPerSecond', 'logBytesPerJob', 'queuedTasks', 'surprise']);
    expect(bad.body.error.details.find((d: { field: string }) => d.field === 'queuedTasks').problems).toEqual(['queuedTasks must be a whole number from 1 to 10000000, or null for the default']);
    expect((await setLimits(MISSING_ID, { queuedTasks: 5 })).status).toBe(404);
    expect((await a.client.get('/api/v1/organization/limits')).body.own).toEqual({});
  });

  it('refuses a task past the organisation’s queued-task limit with 429 QUEUE_FULL, and only that organisation’s', async () => {
    const changed = await setLimits(a.organizationId, { queuedTasks: 2 });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ limits: { queuedTasks: 2, apiRequestsPerSecond: 200 }, own: { queuedTasks: 2 } });
    // Changed by an operator: audited in the organisation it applies to, by the operator.
    const audit = await a.client.get('/api/v1/audit-events?action=organization.limits_changed');
    expect(audit.body.items).toEqual([expect.objectContaining({ actorLabel: `${operatorEmail} (platform operator)`, targetId: a.organizationId, details: { from: {}, to: { queuedTasks: 2 } } })]);

    // An agent that is not connected: its tasks wait to start.
    const offline = await makeApprovedAgent(app, a);
    for (let i = 0; i < 2; i++) expect((await createTask(a, offline.agentId)).status).toBe(201);
    const full = await createTask(a, offline.agentId);
    expect(full.status).toBe(429);
    expect(full.body.error.code).toBe('QUEUE_FULL');
    expect(full.body.error.message).toMatch(/already has 2 tasks waiting to start/);
    expect(full.headers.get('retry-after')).toBe('5');
    // Another organisation queues as before.
    const theirs = await makeApprovedAgent(app, b);
    for (let i = 0; i < 3; i++) expect((await createTask(b, theirs.agentId)).status).toBe(201);

    // Back to the default (null): room again.
    expect((await setLimits(a.organizationId, { queuedTasks: null })).body.own).toEqual({});
    expect((await createTask(a, offline.agentId)).status).toBe(201);
  });

  it('answers 429 with Retry-After past an API key’s requests a second, without slowing other keys', async () => {
    expect((await setLimits(a.organizationId, { apiRequestsPerSecond: 5 })).status).toBe(200);
    const key = await makeApiKey(app, a);
    const answers = await Promise.all(Array.from({ length: 30 }, () => key.client.get('/api/v1/me')));
    const refused = answers.filter((r) => r.status === 429);
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(10);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0].body.error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/at most 5 a second/) });
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The organisation's other credentials, and other organisations, have their own.
    expect((await a.client.get('/api/v1/me')).status).toBe(200);
    expect((await (await makeApiKey(app, b)).client.get('/api/v1/me')).status).toBe(200);
    expect((await setLimits(a.organizationId, { apiRequestsPerSecond: null })).status).toBe(200);
  });

  it('cuts a job’s log at the organisation’s limit behind a marker line, and the job runs on to its end', async () => {
    expect((await setLimits(a.organizationId, { logBytesPerJob: 2048 })).status).toBe(200);
    const agent = await makeApprovedAgent(app, a);
    const socket = await agent.connect();
    try {
      const task = await createTask(a, agent.agentId);
      const offer = await socket.next('offer', (m) => offerIn(agent, m, task.body.id));
      socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
      await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId);
      const chunks = ['a'.repeat(1500), 'b'.repeat(1500), 'the end\n'];
      chunks.forEach((text, seq) => socket.send({ type: 'agent.job.log', jobId: offer.jobId, attempt: 1, seq, stream: 'stdout', text }));
      socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: chunks.length });
      await waitFor('the task to succeed', async () => (await a.client.get(`/api/v1/tasks/${task.body.id}`)).body.state === 'succeeded' || undefined);
      const log = (await a.client.get(`/api/v1/tasks/${task.body.id}/log`)).text;
      expect(log).toBe(
        `${'a'.repeat(1500)}${'b'.repeat(548)}\n[corral] log truncated: this job's output passed 2048 bytes, the organisation's limit per job; the rest was not kept and the job ran on\n`,
      );
    } finally {
      socket.close();
      await setLimits(a.organizationId, { logBytesPerJob: null });
    }
  });
});
