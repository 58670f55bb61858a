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
    app = await startTestApp({ CORRAL_PLATFORM_OPERATORS: operatorEmail, ORG_MAX_QUEUED_TASKS: '50', ORG_API_REQUESTS_PER_SECOND: '200', JOB_REQUERY_SECONDS: '1', LIVE_CONNECTIONS_PER_IP: '5' });
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
    const defaults = { queuedTasks: 50, apiRequestsPerSecond: 200, logBytesPerJob: 10485760, runningJobs: 5000, liveConnections: 20000 };
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

  it('keeps an organisation’s offered and running jobs under its running limit; the next starts when one ends', async () => {
    expect((await setLimits(a.organizationId, { runningJobs: 1 })).status).toBe(200);
    const agent = await makeApprovedAgent(app, a, (p) => (p.maxJobs = 3));
    const socket = await agent.connect();
    try {
      await socket.next('its status', (m) => m.type === 'signed');
      const [first, second] = [await createTask(a, agent.agentId), await createTask(a, agent.agentId)];
      const offer = await socket.next('the first offer', (m) => offerIn(agent, m, first.body.id));
      socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
      await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId);
      // Room on the agent, none in the organisation: the second waits (the node looks again every second here).
      expect((await a.client.get(`/api/v1/tasks/${second.body.id}`)).body.state).toBe('queued');
      expect(socket.messages.some((m) => offerIn(agent, m, second.body.id))).toBe(false);
      socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 0 });
      await socket.next('the second offer, once the first ended', (m) => offerIn(agent, m, second.body.id));
    } finally {
      socket.close();
      await setLimits(a.organizationId, { runningJobs: null });
    }
  });

  it('refuses a live connection past the organisation’s limit (429 for a stream, 4029 for an agent) and past an address’s', async () => {
    expect((await setLimits(a.organizationId, { liveConnections: 2 })).status).toBe(200);
    const opened: AbortController[] = [];
    const stream = async (owner: SignedUp) => {
      const abort = new AbortController();
      opened.push(abort);
      const res = await fetch(`${app.url}/api/v1/agent-events`, { headers: { cookie: owner.client.cookieHeader(), accept: 'text/event-stream' }, signal: abort.signal });
      const body = (res.status === 200 ? null : await res.json()) as { error: { code: string; message: string } } | null;
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
    };
    try {
      expect((await stream(a)).status).toBe(200);
      const agent = await makeApprovedAgent(app, a);
      const socket = await agent.connect();
      await socket.next('its status', (m) => m.type === 'signed');
      // Two held: a third stream, and another agent's WebSocket, are refused.
      const refused = await stream(a);
      expect(refused).toMatchObject({ status: 429, retryAfter: '10', body: { error: { code: 'TOO_MANY_CONNECTIONS' } } });
      expect(refused.body?.error.message).toMatch(/already holds 2 live connections/);
      const refusedSocket = await (await makeApprovedAgent(app, a)).connect();
      const closed = await waitFor('the second agent’s socket to be closed', () => refusedSocket.closed);
      expect(closed).toMatchObject({ code: 4029, reason: expect.stringMatching(/^TOO_MANY_CONNECTIONS: .*retry-after=10$/) });
      // Another organisation is not held; one that leaves gives its place back.
      expect((await stream(b)).status).toBe(200);
      socket.close();
      await waitFor('the agent’s place to be given back', async () => (await stream(a)).status === 200 || undefined);

      // The address: 5 streams at most, whoever holds them (two of a's and one of b's are open).
      await setLimits(a.organizationId, { liveConnections: null });
      expect((await stream(b)).status).toBe(200);
      expect((await stream(b)).status).toBe(200);
      expect(await stream(b)).toMatchObject({ status: 429, body: { error: { code: 'TOO_MANY_CONNECTIONS', details: { limit: 'liveConnectionsPerIp', value: 5 } } } });
    } finally {
      for (const abort of opened) abort.abort();
      await setLimits(a.organizationId, { liveConnections: null });
    }
  });
});
