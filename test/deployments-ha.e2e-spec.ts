import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadPort, enrollmentToken, newStateDir, removeTempDirs, runAgentCommand, spawnAgent, stopAllAgents, tempDir } from './helpers/agent-process';
import { type ControlPlaneProcess, startControlPlane, waitFor } from './helpers/control-plane-process';
import { signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// Crash safety across nodes: a deployment's state is in PostgreSQL, so when the node that runs it
// is killed (or every node is), another node (or the restarted one) carries it on; no job runs
// twice and no step is left out. Real control-plane processes on one database, real agents.

interface Deployment {
  id: string;
  taskId: string;
  state: string;
  steps: { name: string; state: string; targets: { agent: { name: string }; state: string }[] }[];
}
interface Node {
  self: boolean;
  state: string;
  connectedAgents: number;
}
interface Job {
  agentName: string;
  state: string;
  attempt: number;
}

// Short enough that a lease lapsing, or a node being presumed dead, happens within a test.
const LEASE_SECONDS = 5;
// Granted by the nodes that come back after an outage of every node.
const OUTAGE_LEASE_SECONDS = 60;
const SWEEP_SECONDS = 1;
const STEPS = ['prepare', 'rollout', 'verify'];

afterAll(async () => {
  await stopAllAgents();
  removeTempDirs();
});

describe('deployments survive the death of control-plane nodes', () => {
  let db: { url: string; drop: () => Promise<void> };
  const ports = { a: 0, b: 0 };
  const nodes: Record<'a' | 'b', ControlPlaneProcess | undefined> = { a: undefined, b: undefined };
  let owner: SignedUp;
  let apiKey: string;
  let releaseId: string;
  const marks = tempDir('corral-ha-marks-');
  // "rollout" blocks on each agent until this file exists: the deployment is held mid-way.
  const gate = (id: string) => join(marks, `${id}.gate`);

  const url = (node: 'a' | 'b') => `http://127.0.0.1:${ports[node]}`;
  const api = (node: 'a' | 'b') => new HttpClient(url(node)).withBearer(apiKey);
  const start = async (node: 'a' | 'b', leaseSeconds = LEASE_SECONDS) => {
    nodes[node] = await startControlPlane({
      DATABASE_URL: db.url,
      PORT: String(ports[node]),
      JOB_LEASE_SECONDS: String(leaseSeconds),
      JOB_REQUERY_SECONDS: String(SWEEP_SECONDS),
      JOB_OFFER_TIMEOUT_SECONDS: '3',
      NODE_HEARTBEAT_SECONDS: '1',
      NODE_DEAD_AFTER_SECONDS: '3',
    });
  };
  const kill = (node: 'a' | 'b') => nodes[node]!.stop('SIGKILL');

  /** Each line an agent appended for `step` of deployment `id`: one per run of its job. */
  const ran = (id: string, step: string) => {
    const file = join(marks, `${id}-${step}`);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).sort() : [];
  };
  const script = (body: string) => ({ kind: 'script', script: { syntax: 'bash', body }, targetRoles: ['web'] });
  const mark = (step: string) => `echo "$CORRAL_AGENT_NAME" >> "${marks}/$CORRAL_DEPLOYMENT_ID-${step}"`;

  async function agent(name: string, environment: string, servers: string[]) {
    const stateDir = newStateDir();
    const token = await enrollmentToken(owner);
    const enroll = await runAgentCommand(['enroll', '--server', servers[0], '--token', token, '--name', name, '--state-dir', stateDir, '--json']);
    if (enroll.exitCode !== 0) throw new Error(enroll.describe());
    const { agentId, verificationCode } = JSON.parse(enroll.stdout);
    const res = await api('a').post(`/api/v1/agents/${agentId}/approve`, { verificationCode, environments: [environment], roles: ['web'] });
    if (res.status !== 200) throw new Error(`approve: ${res.status} ${res.text}`);
    // Every node's URL, its own first: when one is gone the agent goes on to the next.
    const run = spawnAgent(['run', '--state-dir', stateDir, '--transport', 'ws', ...servers.flatMap((s) => ['--server', s])]);
    await run.waitForOutput(/approved: agent/);
  }

  /** Two agents for `environment`, one on each node to begin with; each test has its own, with a fresh reconnect backoff. */
  async function agents(environment: string, names: [string, string]): Promise<string[]> {
    await agent(names[0], environment, [url('a'), url('b')]);
    await agent(names[1], environment, [url('b'), url('a')]);
    return names;
  }

  const get = async (node: 'a' | 'b', id: string) => (await api(node).get(`/api/v1/deployments/${id}`)).body as Deployment;
  const step = (d: Deployment, name: string) => d.steps.find((s) => s.name === name)!;

  /** Deploys through `node` and waits until "prepare" is done and "rollout" runs on every agent. */
  async function deployToMidway(node: 'a' | 'b', environment: string, names: string[]): Promise<string> {
    const res = await api(node).post(`/api/v1/releases/${releaseId}/deployments`, { environment });
    expect(res.status).toBe(201);
    const id: string = res.body.id;
    await waitFor('"rollout" to run on every agent', () => ran(id, 'rollout-started').length === names.length || undefined, 30_000);
    const d = await get(node, id);
    expect(step(d, 'prepare').state).toBe('succeeded');
    expect(step(d, 'rollout').targets.map((t) => t.state)).toEqual(['active', 'active']);
    return id;
  }

  /** Waits (through `node`) for the end, then checks that each step ran once on each agent and nothing else ran. */
  async function expectFinishedOnce(node: 'a' | 'b', id: string, names: string[]) {
    const d = await waitFor(
      `deployment ${id} to end via node ${node.toUpperCase()}`,
      async () => {
        const found = await get(node, id);
        return ['succeeded', 'failed', 'cancelled'].includes(found.state) ? found : undefined;
      },
      60_000,
      200,
    );
    expect({ state: d.state, steps: d.steps.map((s) => [s.name, s.state, ...s.targets.map((t) => `${t.agent.name}:${t.state}`)]) }).toEqual({
      state: 'succeeded',
      steps: STEPS.map((s) => [s, 'succeeded', ...names.map((n) => `${n}:succeeded`)]),
    });
    const task = (await api(node).get(`/api/v1/tasks/${d.taskId}`)).body as { jobs: Job[] };
    // One job per step and agent, each its first attempt: nothing was run again.
    expect(task.jobs.map((j) => `${j.agentName} ${j.state} #${j.attempt}`).sort()).toEqual(names.flatMap((n) => STEPS.map(() => `${n} succeeded #1`)));
    for (const s of ['prepare', 'rollout-started', 'rollout', 'verify']) expect([s, ran(id, s)]).toEqual([s, names]);
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    ports.a = await deadPort();
    ports.b = await deadPort();
    await Promise.all([start('a'), start('b')]);
    owner = await signUp({ client: () => new HttpClient(url('a')) });
    apiKey = (await owner.client.post('/api/v1/api-keys', { name: 'ha' })).body.key;
    for (const name of ['Blue', 'Green']) expect((await api('a').post('/api/v1/environments', { name })).status).toBe(201);
    // One phase: each test deploys to its own environment, in either order.
    const lifecycle = (await api('a').post('/api/v1/lifecycles', { name: 'Either', phases: [{ name: 'Live', environments: ['Blue', 'Green'] }] })).body;
    const project = (await api('a').post('/api/v1/projects', { name: `Shop ${randomBytes(2).toString('hex')}`, lifecycleId: lifecycle.id })).body;
    const steps = {
      steps: [
        { name: 'prepare', ...script(mark('prepare')) },
        { name: 'rollout', ...script(`${mark('rollout-started')}; until [ -e "${marks}/$CORRAL_DEPLOYMENT_ID.gate" ]; do sleep 0.1; done; ${mark('rollout')}`) },
        { name: 'verify', ...script(mark('verify')) },
      ],
    };
    expect((await api('a').put(`/api/v1/projects/${project.id}/process`, steps)).status).toBe(200);
    releaseId = (await api('a').post(`/api/v1/projects/${project.id}/releases`, {})).body.id;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([nodes.a?.stop('SIGKILL'), nodes.b?.stop('SIGKILL')]);
    await db?.drop();
  });

  it('finishes through node B after kill -9 of node A, the node it was started on, mid-deployment', async () => {
    const names = await agents('Blue', ['web-1', 'web-2']);
    const id = await deployToMidway('a', 'Blue', names);
    const killedAt = Date.now();
    await kill('a');
    await waitFor(
      'node B to presume A dead and to hold both agents',
      async () => {
        const all = (await api('b').get('/api/v1/nodes')).body as Node[];
        return all.some((n) => !n.self && n.state === 'dead') && all.find((n) => n.self)!.connectedAgents === names.length;
      },
      30_000,
    );
    // Long enough for the leases A granted to lapse, had the agents not renewed them through B.
    await sleep(Math.max(0, killedAt + (LEASE_SECONDS + 2 * SWEEP_SECONDS) * 1000 - Date.now()));
    const d = await get('b', id);
    expect(step(d, 'rollout').targets.map((t) => t.state)).toEqual(['active', 'active']);
    const task = (await api('b').get(`/api/v1/tasks/${d.taskId}`)).body as { jobs: Job[] };
    expect(task.jobs.map((j) => j.state).sort()).toEqual(['running', 'running', 'succeeded', 'succeeded']);

    writeFileSync(gate(id), '');
    await expectFinishedOnce('b', id, names);
  }, 120_000);

  it('finishes after kill -9 of every node mid-deployment, an outage longer than its leases, and a restart', async () => {
    await Promise.all([nodes.a?.stop('SIGKILL'), nodes.b?.stop('SIGKILL')]);
    await Promise.all([start('a'), start('b')]);
    const names = await agents('Green', ['web-3', 'web-4']);
    const id = await deployToMidway('b', 'Green', names);
    await Promise.all([kill('a'), kill('b')]);
    const killedAt = Date.now();
    // "rollout" ends on both agents while no node is alive to hear it.
    writeFileSync(gate(id), '');
    await waitFor('"rollout" to end on every agent', () => ran(id, 'rollout').length === names.length || undefined, 30_000);
    expect(ran(id, 'verify')).toEqual([]);
    // The outage outlasts every lease granted before it: no agent could have renewed one.
    await sleep(Math.max(0, killedAt + (LEASE_SECONDS + 1) * 1000 - Date.now()));

    // Both come back, so that every reconnect attempt after the restart finds a node; the first
    // nodes up give the running jobs a lease (long enough for the agents' reconnect backoff).
    await Promise.all([start('a', OUTAGE_LEASE_SECONDS), start('b', OUTAGE_LEASE_SECONDS)]);
    await expectFinishedOnce('a', id, names);
  }, 120_000);
});
