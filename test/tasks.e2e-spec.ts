import { Client } from 'pg';
import { MASK } from '../src/protocol/masking';
import type { JobCancelPayload, JobOfferPayload, ServerMessage } from '../src/protocol/messages';
import { waitFor } from './helpers/control-plane-process';
import { makeApprovedAgent, makeMember, signUp, type SignedUp } from './helpers/factories';
import { type AgentSocket, offerIn, ProtocolAgent } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

function cancelIn(agent: ProtocolAgent, m: ServerMessage): JobCancelPayload | undefined {
  if (m.type !== 'signed') return undefined;
  const p = agent.open(m);
  return p.type === 'server.job.cancel' ? p : undefined;
}

async function script(owner: SignedUp, agentIds: string[], body: string, extra: Record<string, unknown> = {}) {
  const res = await owner.client.post('/api/v1/tasks', { targets: { agentIds }, script: { syntax: 'bash', body }, ...extra });
  if (res.status !== 201) throw new Error(`task: ${res.status} ${res.text}`);
  return res.body as { id: string; state: string; jobs: { id: string; agentId: string; state: string }[] };
}

async function taskState(owner: SignedUp, id: string, state: string) {
  return waitFor(`task ${id} ${state}`, async () => {
    const res = await owner.client.get(`/api/v1/tasks/${id}`);
    return res.body.state === state ? res.body : undefined;
  });
}

/** Accepts, waits for start, sends output and the finish, as an agent that ran the job would. */
async function runOffer(socket: AgentSocket, agent: ProtocolAgent, offer: JobOfferPayload, output: { stream: 'stdout' | 'stderr'; text: string }[], exitCode: number) {
  const from = socket.messages.length;
  socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: offer.attempt });
  await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId, from);
  output.forEach((o, seq) => socket.send({ type: 'agent.job.log', jobId: offer.jobId, attempt: offer.attempt, seq, ...o }));
  socket.send({
    type: 'agent.job.finish',
    jobId: offer.jobId,
    attempt: offer.attempt,
    outcome: exitCode === 0 ? 'succeeded' : 'failed',
    exitCode,
    signal: null,
    message: null,
    logChunks: output.length,
  });
  await socket.next('finish ack', (m) => m.type === 'server.job.finishAck' && m.jobId === offer.jobId, from);
}

describe('tasks: queue, dispatch, logs, cancellation', () => {
  let app: TestApp;
  let owner: SignedUp;
  let db: Client;
  beforeAll(async () => {
    app = await startTestApp({ JOB_REQUERY_SECONDS: '1', JOB_LEASE_SECONDS: '5', JOB_OFFER_TIMEOUT_SECONDS: '2', JOB_DELIVERY_TIMEOUT_SECONDS: '5' });
    owner = await signUp(app);
    db = new Client({ connectionString: app.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db.end();
    await app.close();
  });

  it('refuses targets that are pending, unknown or forbidden by their local policy, naming each', async () => {
    const pending = new ProtocolAgent(app.url);
    await pending.enroll((await owner.client.post('/api/v1/enrollment-tokens', {})).body.token);
    const frozen = await makeApprovedAgent(
      app,
      owner,
      (a) => (a.policy = { source: '/etc/corral/agent-policy.json', allowedJobKinds: ['script'], allowScripts: true, runAs: null, allowedOrganizations: null, frozen: true }),
    );
    (await frozen.connect()).close(); // reports its policy
    await waitFor('policy reported', async () => (await owner.client.get(`/api/v1/agents/${frozen.agentId}`)).body.policy?.frozen);
    const missing = '00000000-0000-4000-8000-000000000000';
    const res = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [pending.agentId, frozen.agentId, missing] }, script: { syntax: 'bash', body: 'true' } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('TARGETS_REFUSED');
    expect(res.body.error.message).toMatch(/pending approval; approve it first/);
    const reasons = Object.fromEntries(res.body.error.details.map((d: { agentId: string; reason: string }) => [d.agentId, d.reason]));
    expect(reasons[frozen.agentId]).toMatch(/frozen by its local policy/);
    expect(reasons[missing]).toMatch(/no such agent/);

    const viewer = await makeMember(app, owner, 'viewer');
    expect((await viewer.client.post('/api/v1/tasks', { targets: { agentIds: [frozen.agentId] }, script: { syntax: 'bash', body: 'true' } })).status).toBe(403);
    const bad = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [] }, script: { syntax: 'cmd', body: '' }, maxAttempts: 3 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(['targets.agentIds', 'script.syntax', 'script.body']));
  });

  it('an API key revoked, or whose creator was demoted or left, after its first use creates nothing: the 401 it always had', async () => {
    const operator = await makeMember(app, owner, 'operator');
    const makeBot = async (name: string) => {
      const created = await operator.client.post('/api/v1/api-keys', { name });
      return { id: created.body.id as string, client: app.client().withBearer(created.body.key) };
    };
    const bot = await makeBot('ci');
    // Room for every task below, so each one the node creates is offered in the statement that makes it.
    const agent = await makeApprovedAgent(app, owner, (a) => (a.maxJobs = 10));
    const socket = await agent.connect();
    await socket.next('the answer to its hello', (m) => m.type === 'signed');
    const submitAs = (client: typeof bot.client, extra: Record<string, unknown> = {}) =>
      client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'bash', body: 'true' }, ...extra });
    const tasksBy = async (userId: string) => (await db.query(`SELECT count(*)::int AS n FROM tasks WHERE created_by = $1`, [userId])).rows[0].n as number;

    expect((await submitAs(bot.client)).status).toBe(201);
    const remembered = await submitAs(bot.client);
    expect(remembered.status).toBe(201);
    expect(remembered.body.jobs[0].state).toBe('offered');
    expect(remembered.body.createdBy).toBe(`ci (API key of ${operator.email})`);

    expect((await operator.client.delete(`/api/v1/api-keys/${bot.id}`)).status).toBe(204);
    for (const extra of [{}, { concurrencyKey: 'deploy' }]) {
      const revoked = await submitAs(bot.client, extra);
      expect(revoked.status).toBe(401);
      expect(revoked.body.error.code).toBe('INVALID_API_KEY');
    }
    expect(await tasksBy(operator.userId)).toBe(2);

    // Lowering the creator's role ends the keys (and sessions) made with the old one.
    const second = await makeBot('ci-2');
    expect((await submitAs(second.client)).status).toBe(201);
    expect((await owner.client.patch(`/api/v1/members/${operator.membershipId}`, { role: 'viewer' })).status).toBe(200);
    const demoted = await submitAs(second.client);
    expect(demoted.status).toBe(401);
    expect(demoted.body.error.code).toBe('INVALID_API_KEY');
    expect((await operator.client.get('/api/v1/me')).status).toBe(401);
    expect(await tasksBy(operator.userId)).toBe(3);

    // A key whose creator left the organisation stops with them.
    const other = await makeMember(app, owner, 'operator');
    const otherBot = app.client().withBearer((await other.client.post('/api/v1/api-keys', { name: 'leaver' })).body.key);
    const body = { targets: { agentIds: [agent.agentId] }, script: { syntax: 'bash', body: 'true' } };
    expect((await otherBot.post('/api/v1/tasks', body)).status).toBe(201);
    expect((await owner.client.delete(`/api/v1/members/${other.membershipId}`)).status).toBe(204);
    expect((await otherBot.post('/api/v1/tasks', body)).status).toBe(401);
    expect(await tasksBy(other.userId)).toBe(1);
    socket.close();
  });

  it('offers a job over the WebSocket, starts it only after accept, stores its log and ends failed with the exit code', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const task = await script(owner, [agent.agentId], 'echo out; echo err >&2; exit 3');
    expect(task.jobs).toHaveLength(1);
    const offer = await socket.next('offer', (m) => offerIn(agent, m));
    expect(offer).toMatchObject({ taskId: task.id, jobId: task.jobs[0].id, attempt: 1, script: { syntax: 'bash', body: 'echo out; echo err >&2; exit 3' } });
    expect((await owner.client.get(`/api/v1/tasks/${task.id}`)).body.jobs[0].state).toBe('offered');

    await runOffer(
      socket,
      agent,
      offer,
      [
        { stream: 'stdout', text: 'out\n' },
        { stream: 'stderr', text: 'err\n' },
        { stream: 'stdout', text: 'a\u0000b\n' },
      ],
      3,
    );
    const done = await taskState(owner, task.id, 'failed');
    expect(done.jobs[0]).toMatchObject({ state: 'failed', exitCode: 3, message: 'exit code 3' });
    const log = await owner.client.get(`/api/v1/tasks/${task.id}/log`);
    // A NUL a script printed is kept as U+FFFD: PostgreSQL's text cannot hold it.
    expect(log.text).toBe('out\nerr\na\uFFFDb\n');
    socket.close();
  });

  it('a replayed accept or log chunk changes nothing: each chunk is stored once, the start is repeated', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const task = await script(owner, [agent.agentId], 'echo once');
    const offer = await socket.next('offer', (m) => offerIn(agent, m));
    const ref = { jobId: offer.jobId, attempt: offer.attempt };
    socket.send({ type: 'agent.job.accept', ...ref });
    socket.send({ type: 'agent.job.accept', ...ref });
    await waitFor('two starts', () => socket.messages.filter((m) => m.type === 'server.job.start').length === 2 || undefined);
    for (let i = 0; i < 3; i++) socket.send({ type: 'agent.job.log', ...ref, seq: 0, stream: 'stdout', text: 'once\n' });
    socket.send({ type: 'agent.job.log', ...ref, seq: 5, stream: 'stdout', text: 'gap\n' });
    const ack = await socket.next('ack for the gap', (m) => m.type === 'server.job.logAck' && m.nextSeq === 1 && socket.messages.filter((x) => x.type === 'server.job.logAck').length >= 4 && m);
    expect(ack.nextSeq).toBe(1);
    // A finish that claims more chunks than were stored is answered with where to resume.
    socket.send({ type: 'agent.job.finish', ...ref, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 2 });
    await waitFor('resume point', () => socket.messages.filter((m) => m.type === 'server.job.logAck').length >= 5 || undefined);
    socket.send({ type: 'agent.job.finish', ...ref, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 1 });
    await taskState(owner, task.id, 'succeeded');
    expect((await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text).toBe('once\n');
    socket.close();
  });

  it('masks sensitive values, also when one is split across chunks, and never returns them', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const task = await script(owner, [agent.agentId], 'echo "$PASS"', { sensitiveValues: ['hunter2-secret'] });
    expect(JSON.stringify((await owner.client.get(`/api/v1/tasks/${task.id}`)).body)).not.toContain('hunter2-secret');
    const offer = await socket.next('offer', (m) => offerIn(agent, m));
    expect(offer.sensitiveValues).toEqual(['hunter2-secret']);
    await runOffer(
      socket,
      agent,
      offer,
      [
        { stream: 'stdout', text: 'pw=hunter2-' },
        { stream: 'stdout', text: 'secret ok\nend hunter' },
      ],
      0,
    );
    await taskState(owner, task.id, 'succeeded');
    const log = await owner.client.get(`/api/v1/tasks/${task.id}/log`);
    expect(log.text).toBe(`pw=${MASK} ok\nend hunter`);
    const stored = await db.query(`SELECT string_agg(text, '') AS all FROM log_chunks WHERE task_id = $1`, [task.id]);
    expect(stored.rows[0].all).not.toContain('hunter2-secret');
    const row = await db.query(`SELECT secrets FROM jobs WHERE task_id = $1`, [task.id]);
    expect(row.rows[0].secrets).toEqual([]);
    socket.close();
  });

  it('cancels a queued job so it never starts, and asks the agent to stop a running one', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const running = await script(owner, [agent.agentId], 'sleep 300');
    const offer = await socket.next('offer', (m) => offerIn(agent, m));
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    await taskState(owner, running.id, 'running');
    // One job at a time: the second task stays queued while the first runs.
    const queued = await script(owner, [agent.agentId], 'echo never');
    expect((await owner.client.post(`/api/v1/tasks/${queued.id}/cancel`)).body.state).toBe('cancelled');

    const from = socket.messages.length;
    const cancelling = await owner.client.post(`/api/v1/tasks/${running.id}/cancel`);
    expect(cancelling.body.state).toBe('cancelling');
    const cancel = await socket.next('cancel', (m) => cancelIn(agent, m), from);
    expect(cancel).toMatchObject({ jobId: offer.jobId, attempt: 1, graceSeconds: 10 });
    socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'cancelled', exitCode: null, signal: 'SIGTERM', message: 'cancelled', logChunks: 0 });
    await taskState(owner, running.id, 'cancelled');
    expect((await owner.client.post(`/api/v1/tasks/${running.id}/cancel`)).status).toBe(409);
    // The cancelled queued task was never offered.
    expect(socket.messages.flatMap((m) => agent.offersIn(m).map((o) => o.taskId))).not.toContain(queued.id);
    socket.close();
  });

  it('a job whose agent stops heartbeating becomes unknown, not failed and not re-run; an idempotent one is retried', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const lost = await script(owner, [agent.agentId], 'deploy');
    const offer = await socket.next('offer', (m) => offerIn(agent, m));
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    const failed = await taskState(owner, lost.id, 'failed');
    expect(failed.jobs[0]).toMatchObject({ state: 'unknown', attempt: 1 });
    expect(failed.jobs[0].message).toMatch(/no heartbeat .* whether the job finished is unknown/);
    // Later the agent turns out to have finished it: the real outcome is recorded.
    socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 0 });
    await taskState(owner, lost.id, 'succeeded');

    const retried = await script(owner, [agent.agentId], 'idempotent', { idempotent: true, maxAttempts: 2 });
    const first = await socket.next('first offer', (m) => offerIn(agent, m, retried.id));
    socket.send({ type: 'agent.job.accept', jobId: first.jobId, attempt: 1 });
    const second = await socket.next('second attempt', (m) => agent.offersIn(m).find((o) => o.attempt === 2), 0, 20_000);
    expect(second.jobId).toBe(first.jobId);
    // A report about the lost attempt is acknowledged and ignored.
    socket.send({ type: 'agent.job.finish', jobId: first.jobId, attempt: 1, outcome: 'failed', exitCode: 1, signal: null, message: null, logChunks: 0 });
    await runOffer(socket, agent, second, [], 0);
    const done = await taskState(owner, retried.id, 'succeeded');
    expect(done.jobs[0].attempt).toBe(2);
    socket.close();
  });

  it("finds work nobody announced: a job made claimable behind the nodes' backs is offered by the next re-query", async () => {
    const away = await makeApprovedAgent(app, owner);
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    await script(owner, [away.agentId], 'true', { concurrencyKey: 'backstop' });
    const waiting = await script(owner, [agent.agentId], 'true', { concurrencyKey: 'backstop' });
    expect(waiting.jobs[0].state).toBe('queued');
    // No notification goes out for this: only the periodic re-query (every second here) can find it.
    await db.query(`UPDATE jobs SET ready = true, queued_at = now() WHERE task_id = $1`, [waiting.id]);
    const offer = await socket.next('the offer', (m) => offerIn(agent, m, waiting.id));
    expect(offer.jobId).toBe(waiting.jobs[0].id);
    socket.close();
  });

  it('runs one task per concurrency key at a time; the next waits naming its blocker and starts when it ends', async () => {
    const agent = await makeApprovedAgent(app, owner, (a) => (a.maxJobs = 4));
    const socket = await agent.connect();
    const first = await script(owner, [agent.agentId], 'one', { concurrencyKey: 'web/prod' });
    const second = await script(owner, [agent.agentId], 'two', { concurrencyKey: 'web/prod' });
    const other = await script(owner, [agent.agentId], 'other key', { concurrencyKey: 'db/prod' });
    const offer1 = await socket.next('first offer', (m) => offerIn(agent, m, first.id));
    await socket.next('other key runs alongside', (m) => offerIn(agent, m, other.id));
    socket.send({ type: 'agent.job.accept', jobId: offer1.jobId, attempt: 1 });
    await taskState(owner, first.id, 'running');
    const waiting = (await owner.client.get(`/api/v1/tasks/${second.id}`)).body;
    expect(waiting.state).toBe('queued');
    expect(waiting.waitingFor).toMatchObject({ taskId: first.id, taskState: 'running' });
    expect(waiting.waitingFor.reason).toMatch(/concurrency key "web\/prod" is held by task/);
    expect(socket.messages.some((m) => offerIn(agent, m, second.id))).toBe(false);

    const from = socket.messages.length;
    await runOffer(socket, agent, offer1, [], 0);
    const offer2 = await socket.next('second offer after the first ends', (m) => offerIn(agent, m, second.id), from);
    expect(offer2.attempt).toBe(1);
    expect((await owner.client.get(`/api/v1/tasks/${second.id}`)).body.waitingFor).toBeNull();
    socket.close();
  });

  it('tasks created at the same moment each get their own jobs and audit event, and a NUL in a field is refused before the database', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const nul = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'bash', body: 'echo a\u0000b' }, name: 'nul' });
    expect(nul.status).toBe(422);
    expect(nul.body.error.message).toMatch(/script.body must not contain NUL characters/);

    const tasks = await Promise.all(['one', 'two', 'three', 'four'].map((name) => script(owner, [agent.agentId], `echo ${name}`, { name, sensitiveValues: [`secret-${name}`] })));
    expect(new Set(tasks.map((t) => t.id)).size).toBe(4);
    expect(new Set(tasks.map((t) => t.jobs[0].id)).size).toBe(4);
    const audited = await db.query(`SELECT target_id FROM audit_events WHERE action = 'task.created' AND target_id = ANY ($1::text[])`, [tasks.map((t) => t.id)]);
    expect(audited.rows).toHaveLength(4);

    // Each runs in turn as the one before it frees the agent, with its own script and secrets.
    const done = new Set<string>();
    while (done.size < 4) {
      const offer = await socket.next('an offer', (m) => agent.offersIn(m).find((o) => !done.has(o.taskId) && tasks.some((t) => t.id === o.taskId)));
      const expected = ['one', 'two', 'three', 'four'][tasks.findIndex((t) => t.id === offer.taskId)];
      expect(offer).toMatchObject({ script: { body: `echo ${expected}` }, sensitiveValues: [`secret-${expected}`] });
      await runOffer(socket, agent, offer, [{ stream: 'stdout', text: `${expected}\n` }], 0);
      done.add(offer.taskId);
    }
    for (const t of tasks) await taskState(owner, t.id, 'succeeded');
    socket.close();
  });

  it('offers an agent with room for several jobs all of them under one signature, and takes several messages in one frame', async () => {
    const agent = await makeApprovedAgent(app, owner, (a) => (a.maxJobs = 4));
    const tasks = [await script(owner, [agent.agentId], 'one'), await script(owner, [agent.agentId], 'two'), await script(owner, [agent.agentId], 'three')];
    // Queued while the agent was away: its first claim finds all three.
    const socket = await agent.connect();
    const envelope = await socket.next('the offers', (m) => agent.offersIn(m).length === 3 && m);
    expect(envelope.type === 'signed' && agent.open(envelope).type).toBe('server.job.offers');
    const offers = agent.offersIn(envelope);
    expect(offers.map((o) => o.taskId).sort()).toEqual(tasks.map((t) => t.id).sort());

    socket.sendTogether(offers.map((o) => ({ type: 'agent.job.accept', jobId: o.jobId, attempt: 1 })));
    for (const o of offers) await socket.next(`start of ${o.name}`, (m) => m.type === 'server.job.start' && m.jobId === o.jobId);
    // One job's messages keep their order inside the frame: its log, then its finish.
    socket.sendTogether(
      offers.flatMap((o) => [
        { type: 'agent.job.log' as const, jobId: o.jobId, attempt: 1, seq: 0, stream: 'stdout' as const, text: `${o.name} ran\n` },
        { type: 'agent.job.finish' as const, jobId: o.jobId, attempt: 1, outcome: 'succeeded' as const, exitCode: 0, signal: null, message: null, logChunks: 1 },
      ]),
    );
    for (const t of tasks) {
      await taskState(owner, t.id, 'succeeded');
      expect((await owner.client.get(`/api/v1/tasks/${t.id}/log`)).text).toMatch(/ ran\n$/);
    }
    socket.close();
  });

  it('serves long-polling agents: offers in the poll answer, job messages by POST /messages', async () => {
    const agent = await makeApprovedAgent(app, owner);
    expect((await agent.poll(null)).status).toBe(200);
    const task = await script(owner, [agent.agentId], 'echo polled');
    const polled = await agent.poll('approved');
    const offer = polled.body.messages.map((m: ServerMessage) => offerIn(agent, m)).find(Boolean) as JobOfferPayload;
    expect(offer.taskId).toBe(task.id);
    const ref = { jobId: offer.jobId, attempt: 1 };
    const started = await agent.post([{ type: 'agent.job.accept', ...ref }]);
    expect(started.body.messages).toEqual([{ type: 'server.job.start', ...ref, leaseSeconds: 5 }]);
    const logged = await agent.post([
      { type: 'agent.job.log', ...ref, seq: 0, stream: 'stdout', text: 'pol' },
      { type: 'agent.job.log', ...ref, seq: 1, stream: 'stdout', text: 'led\n' },
      { type: 'agent.job.finish', ...ref, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 2 },
    ]);
    expect(logged.body.messages).toEqual([
      { type: 'server.job.logAck', ...ref, nextSeq: 2 },
      { type: 'server.job.finishAck', ...ref },
    ]);
    await taskState(owner, task.id, 'succeeded');
    expect((await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text).toBe('polled\n');
    const bad = await agent.post([{ type: 'agent.job.log', ...ref, seq: -1, stream: 'stdout', text: 'x' } as never]);
    expect(bad.status).toBe(422);
  });

  it('streams a live log as server-sent events until the task ends', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const task = await script(owner, [agent.agentId], 'echo live');
    const offer = await socket.next('offer', (m) => offerIn(agent, m));
    const ref = { jobId: offer.jobId, attempt: 1 };
    socket.send({ type: 'agent.job.accept', ...ref });
    await taskState(owner, task.id, 'running');

    const res = await fetch(`${app.url}/api/v1/tasks/${task.id}/log`, { headers: { accept: 'text/event-stream', cookie: owner.client.cookieHeader() } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    };
    socket.send({ type: 'agent.job.log', ...ref, seq: 0, stream: 'stdout', text: 'first line\n' });
    await readUntil(/first line/);
    socket.send({ type: 'agent.job.log', ...ref, seq: 1, stream: 'stdout', text: 'second line\n' });
    socket.send({ type: 'agent.job.finish', ...ref, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 2 });
    await readUntil(/event: end/);
    expect(text).toMatch(/second line/);
    expect(text).toMatch(/event: end\ndata: \{"state":"succeeded"\}/);
    socket.close();
  });

  it('fails a job no agent accepted within the delivery timeout, saying why', async () => {
    const offline = await makeApprovedAgent(app, owner);
    const task = await script(owner, [offline.agentId], 'echo never delivered');
    const done = await taskState(owner, task.id, 'failed');
    expect(done.jobs[0].message).toMatch(/no approved agent accepted the job within 5 s .*is the agent connected/);
  });

  it('lists tasks newest first, filtered by state and agent, and hides other organisations', async () => {
    const agent = await makeApprovedAgent(app, owner);
    const a = await script(owner, [agent.agentId], 'a');
    const b = await script(owner, [agent.agentId], 'b');
    const list = await owner.client.get(`/api/v1/tasks?agentId=${agent.agentId}`);
    expect(list.body.items.map((t: { id: string }) => t.id)).toEqual([b.id, a.id]);
    const page = await owner.client.get(`/api/v1/tasks?agentId=${agent.agentId}&limit=1`);
    expect(page.body.nextBefore).toBe(b.id);
    const next = await owner.client.get(`/api/v1/tasks?agentId=${agent.agentId}&limit=1&before=${b.id}`);
    expect(next.body.items[0].id).toBe(a.id);
    expect((await owner.client.get('/api/v1/tasks?state=bogus')).status).toBe(422);
    const stranger = await signUp(app);
    expect((await stranger.client.get(`/api/v1/tasks/${a.id}`)).status).toBe(404);
    expect((await stranger.client.post(`/api/v1/tasks/${a.id}/cancel`)).status).toBe(404);
    expect((await stranger.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'bash', body: 'x' } })).status).toBe(422);
  });
});
