import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { MASK } from '../src/protocol/masking';
import type { JobOfferPayload } from '../src/protocol/messages';
import { MAIN, ROOT, TEST_SECRETS_KEY, waitFor } from './helpers/control-plane-process';
import { makeApprovedAgent, signUp, type SignedUp } from './helpers/factories';
import { type AgentSocket, offerIn, type ProtocolAgent } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

const CLI = join(ROOT, 'dist', 'src', 'secrets', 'secrets-cli.js');

/** `npm run secrets -- <args>` against the test node's database, as a process whose output is read while it runs. */
function secretsCli(app: TestApp, ...args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: app.databaseUrl, CORRAL_SECRETS_KEY: TEST_SECRETS_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { output: () => output, exited, done: async () => ({ code: await exited, output }) };
}

async function script(owner: SignedUp, agentIds: string[], body: string, sensitiveValues: string[]) {
  const res = await owner.client.post('/api/v1/tasks', { targets: { agentIds }, script: { syntax: 'bash', body }, sensitiveValues });
  if (res.status !== 201) throw new Error(`task: ${res.status} ${res.text}`);
  return res.body as { id: string };
}

/** Accepts the offer, sends output in chunks and the finish, as an agent that ran the job would. */
async function runOffer(socket: AgentSocket, offer: JobOfferPayload, chunks: string[]) {
  const from = socket.messages.length;
  socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: offer.attempt });
  await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId, from);
  chunks.forEach((text, seq) => socket.send({ type: 'agent.job.log', jobId: offer.jobId, attempt: offer.attempt, seq, stream: 'stdout', text }));
  socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: offer.attempt, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: chunks.length });
  await socket.next('finish ack', (m) => m.type === 'server.job.finishAck' && m.jobId === offer.jobId, from);
}

describe('sensitive values at rest', () => {
  let app: TestApp;
  let owner: SignedUp;
  let db: Client;
  let agent: ProtocolAgent;
  let socket: AgentSocket;
  beforeAll(async () => {
    app = await startTestApp({ JOB_REQUERY_SECONDS: '1' });
    owner = await signUp(app);
    db = new Client({ connectionString: app.databaseUrl });
    await db.connect();
    agent = await makeApprovedAgent(app, owner);
    socket = await agent.connect();
  });
  afterAll(async () => {
    socket?.close();
    await db?.end();
    await app?.close();
  });

  const secretsOf = async (taskId: string) => (await db.query<{ secrets: string[] }>(`SELECT secrets FROM jobs WHERE task_id = $1`, [taskId])).rows[0].secrets;
  const finished = (taskId: string) => waitFor(`task ${taskId} to succeed`, async () => (await owner.client.get(`/api/v1/tasks/${taskId}`)).body.state === 'succeeded');

  it('keeps a job’s secrets sealed in the jobs table while it runs; the agent gets them in clear, and its output is masked', async () => {
    const secret = 'hunter2-db-password';
    const task = await script(owner, [agent.agentId], 'deploy', [secret]);
    const offer = await socket.next('offer', (m) => offerIn(agent, m, task.id));
    expect(offer.sensitiveValues).toEqual([secret]);

    const from = socket.messages.length;
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    await socket.next('start', (m) => m.type === 'server.job.start' && m.jobId === offer.jobId, from);
    const sealed = await secretsOf(task.id);
    expect(sealed).toEqual([expect.stringMatching(/^c1\.k1\.[A-Za-z0-9_-]+$/)]);
    const row = await db.query<{ text: string }>(`SELECT j::text AS text FROM jobs j WHERE task_id = $1`, [task.id]);
    expect(row.rows[0].text).not.toContain(secret);

    const chunks = [`pw=${secret.slice(0, 7)}`, `${secret.slice(7)} b64=${Buffer.from(secret).toString('base64')}`, ` hex=${Buffer.from(secret).toString('hex')} json="${secret}"\n`];
    chunks.forEach((text, seq) => socket.send({ type: 'agent.job.log', jobId: offer.jobId, attempt: 1, seq, stream: 'stdout', text }));
    socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: chunks.length });
    await finished(task.id);
    expect((await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text).toBe(`pw=${MASK} b64=${MASK} hex=${MASK} json="${MASK}"\n`);
    expect(await secretsOf(task.id)).toEqual([]);
    expect(app.logs()).not.toContain(secret);
  });

  it('rotates on the running node: values sealed before still open, a job created during rotation works, nothing is left under the old key', async () => {
    // An approved agent that is not connected: its jobs wait in the queue, sealed, through the rotation.
    const offline = await makeApprovedAgent(app, owner);
    const before = [await script(owner, [offline.agentId], 'one', ['before-secret-one']), await script(owner, [offline.agentId], 'two', ['before-secret-two'])];
    for (const t of before) expect(await secretsOf(t.id)).toEqual([expect.stringMatching(/^c1\.k1\./)]);

    // A row held by another transaction is skipped, not waited for: the rotation passes again until it is free.
    const holder = new Client({ connectionString: app.databaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM jobs WHERE task_id = $1 FOR UPDATE`, [before[0].id]);
    const rotation = secretsCli(app, 'rotate');
    try {
      await waitFor('the node to seal with k2', () => rotation.output().includes('every live node seals new values with k2'), 30_000);
      const during = await script(owner, [agent.agentId], 'three', ['during-secret-three']);
      expect(await secretsOf(during.id)).toEqual([expect.stringMatching(/^c1\.k2\./)]);
      const offer = await socket.next('offer', (m) => offerIn(agent, m, during.id));
      expect(offer.sensitiveValues).toEqual(['during-secret-three']);
      await runOffer(socket, offer, ['got during-secret-three\n']);
      await finished(during.id);
      expect((await owner.client.get(`/api/v1/tasks/${during.id}/log`)).text).toBe(`got ${MASK}\n`);
      expect(await secretsOf(before[0].id)).toEqual([expect.stringMatching(/^c1\.k1\./)]); // still held
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    const { code, output } = await rotation.done();
    expect({ code, output }).toMatchObject({ code: 0, output: expect.stringContaining('added secret key k2') });
    expect(output).toContain('jobs.secrets: re-encrypted 2 row(s) under k2');
    expect(output).toContain('retired k1: rotation to k2 done');

    const left = await db.query(`SELECT v FROM jobs, unnest(secrets) AS v WHERE v NOT LIKE 'c1.k2.%'`);
    expect(left.rows).toEqual([]);
    const keys = await db.query<{ id: string; retired: boolean }>(`SELECT id, retired_at IS NOT NULL AS retired FROM secret_keys ORDER BY id`);
    expect(keys.rows).toEqual([
      { id: 'k1', retired: true },
      { id: 'k2', retired: false },
    ]);

    // What was sealed before the rotation reaches its agent in clear, and is masked in its output.
    const late = await offline.connect();
    try {
      for (const [i, task] of before.entries()) {
        const offer = await late.next('offer', (m) => offerIn(offline, m, task.id));
        expect(offer.sensitiveValues).toEqual([['before-secret-one', 'before-secret-two'][i]]);
        await runOffer(late, offer, [`${offer.sensitiveValues[0]}\n`]);
        await finished(task.id);
        expect((await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text).toBe(`${MASK}\n`);
      }
    } finally {
      late.close();
    }
    expect(app.logs()).not.toMatch(/before-secret|during-secret/);

    // Every job has ended, so their secrets are gone: the next rotation has nothing to re-encrypt, and says so.
    const again = await secretsCli(app, 'rotate').done();
    expect(again.code).toBe(0);
    expect(again.output).toContain('jobs.secrets: nothing to re-encrypt (every value is under k3)');
    const status = await secretsCli(app, 'status').done();
    expect(status.output).toMatch(/^k3\tcreated .*\tseals new values$/m);
    expect(status.output).toContain('jobs.secrets: no values');
  });

  it('a node with another master key refuses to start on this database, naming the key it cannot open', async () => {
    // Last: the node registers itself before it fails, and a rotation would wait for it.
    const other = Buffer.alloc(32, 'another key').toString('base64');
    const node = spawn(process.execPath, [MAIN], { cwd: ROOT, env: { ...process.env, DATABASE_URL: app.databaseUrl, CORRAL_SECRETS_KEY: other, PORT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    node.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((resolve) => node.once('exit', resolve))).toBe(1);
    expect(stderr).toContain('corral: failed to start: CORRAL_SECRETS_KEY does not open secret key "k1" of this database');
  });
});
