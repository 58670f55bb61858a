import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type AgentProcess, deadPort, removeTempDirs, runApprovedAgent, stopAllAgents, tempDir } from './helpers/agent-process';
import { type ControlPlaneProcess, startControlPlane, waitFor } from './helpers/control-plane-process';
import { makeMember, signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// Deployments run by real agent programs under a real control plane: the scenario a new user tries.

interface Target {
  agent: { name: string };
  state: string;
  exitCode: number | null;
  reason: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}
interface Deployment {
  id: string;
  taskId: string;
  state: string;
  waitingFor: string | null;
  steps: { name: string; state: string; reason: string | null; targets: Target[] }[];
  interruptions: { id: string; kind: string; actions: string[]; answer: { action: string; by: string } | null }[];
}

afterAll(async () => {
  await stopAllAgents();
  removeTempDirs();
});

describe('deployments run by real agents', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cp: ControlPlaneProcess;
  let owner: SignedUp;
  let port: number;
  let projectId: string;
  let release: { id: string };
  const runs: AgentProcess[] = [];
  /** The file whose presence makes the "deploy" step fail on web-2. */
  const breaker = join(tempDir('corral-deploy-'), 'broken');
  const marks = tempDir('corral-deploy-marks-');
  const env = () => ({ DATABASE_URL: db.url, PORT: String(port), JOB_REQUERY_SECONDS: '1', JOB_OFFER_TIMEOUT_SECONDS: '3' });

  const processWith = (deploySteps: Record<string, unknown>[] = []) => ({
    steps: [
      { name: 'migrate', kind: 'script', script: { syntax: 'bash', body: `echo "migrated on $CORRAL_STEP"; touch "${marks}/migrate-$CORRAL_DEPLOYMENT_ID-$RANDOM$RANDOM"` }, targetRoles: ['db'] },
      ...deploySteps,
      {
        name: 'deploy',
        kind: 'script',
        script: {
          syntax: 'bash',
          body: `sleep 0.3; if [ "$CORRAL_AGENT_NAME" = web-2 ] && [ -e "${breaker}" ]; then echo "broken" >&2; exit 4; fi; echo "deployed $CORRAL_RELEASE to $CORRAL_ENVIRONMENT"`,
        },
        targetRoles: ['web'],
        maxParallelism: 1,
      },
      { name: 'notify', kind: 'script', script: { syntax: 'bash', body: 'echo "notified"' }, targetRoles: ['web'], condition: 'always' },
    ],
  });

  async function agent(name: string, environments: string[], roles: string[]) {
    runs.push(await runApprovedAgent(owner, cp.url, name, { environments, roles }));
  }

  async function deploy(environment: string, extra: Record<string, unknown> = {}) {
    return owner.client.post(`/api/v1/releases/${release.id}/deployments`, { environment, ...extra });
  }

  function ended(id: string, states = ['succeeded', 'failed', 'cancelled'], timeoutMs = 30_000): Promise<Deployment> {
    return waitFor(
      `deployment ${id} to end`,
      async () => {
        const d = (await owner.client.get(`/api/v1/deployments/${id}`)).body as Deployment;
        return states.includes(d.state) ? d : undefined;
      },
      timeoutMs,
    );
  }

  const step = (d: Deployment, name: string) => d.steps.find((s) => s.name === name)!;

  beforeAll(async () => {
    db = await createTestDatabase();
    port = await deadPort();
    cp = await startControlPlane(env());
    owner = await signUp({ client: () => new HttpClient(cp.url) });
    for (const name of ['Dev', 'Prod']) expect((await owner.client.post('/api/v1/environments', { name })).status).toBe(201);
    await agent('web-1', ['Dev'], ['web']);
    await agent('web-2', ['Prod'], ['web']);
    await agent('web-3', ['Prod'], ['web']);
    await agent('db-1', ['Prod'], ['db']);
    projectId = (await owner.client.post('/api/v1/projects', { name: `Shop ${randomBytes(2).toString('hex')}` })).body.id;
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, processWith())).status).toBe(200);
    release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body;
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
    await db?.drop();
  });

  it('refuses Prod before Dev, naming Dev; in Dev skips the step with no db agent, saying why, and succeeds', async () => {
    const refused = await deploy('Prod');
    expect([refused.status, refused.body.error.code]).toEqual([422, 'LIFECYCLE_FORBIDS']);
    expect(refused.body.error.message).toContain('deploy this release to Dev first');
    // The preview says the same, and what each step would run on, without deploying anything.
    const preview = await owner.client.post(`/api/v1/releases/${release.id}/deployments/preview`, { environment: 'Prod', excludeAgents: ['web-3'] });
    expect(preview.status).toBe(200);
    expect(preview.body.refusals.map((r: { code: string }) => r.code)).toEqual(['LIFECYCLE_FORBIDS']);
    expect(preview.body.steps.map((s: { name: string; targets: { agent: { name: string }; state: string }[] }) => [s.name, s.targets.map((t) => `${t.agent.name} ${t.state}`)])).toEqual([
      ['migrate', ['db-1 pending']],
      ['deploy', ['web-2 pending', 'web-3 excluded']],
      ['notify', ['web-2 pending', 'web-3 excluded']],
    ]);
    expect((await owner.client.post(`/api/v1/releases/${release.id}/deployments/preview`, { environment: 'Prod', skipSteps: ['nope'] })).status).toBe(422);
    expect((await owner.client.get(`/api/v1/deployments?projectId=${projectId}`)).body).toEqual([]);

    const res = await deploy('Dev');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.any(String), taskId: expect.any(String) });
    const d = await ended(res.body.id);
    expect(d.state).toBe('succeeded');
    expect(step(d, 'migrate')).toMatchObject({ state: 'skipped', reason: 'no agent with role db in Dev' });
    expect(step(d, 'deploy').targets.map((t) => [t.agent.name, t.state])).toEqual([['web-1', 'succeeded']]);
    const log = (await owner.client.get(`/api/v1/tasks/${d.taskId}/log`)).text;
    expect(log).toContain(`deployed ${'1.0.0'} to Dev`);
  });

  it('in Prod runs migrate on db-1 only, then deploy on web-2 and web-3 one at a time, then notify', async () => {
    const res = await deploy('Prod');
    expect(res.status).toBe(201);
    const d = await ended(res.body.id);
    expect(d.state).toBe('succeeded');
    expect(step(d, 'migrate').targets.map((t) => t.agent.name)).toEqual(['db-1']);
    const [a, b] = step(d, 'deploy').targets;
    expect([a.agent.name, b.agent.name]).toEqual(['web-2', 'web-3']);
    expect(Date.parse(b.startedAt!)).toBeGreaterThanOrEqual(Date.parse(a.finishedAt!));
    const notify = step(d, 'notify').targets;
    expect(Math.min(...notify.map((t) => Date.parse(t.startedAt!)))).toBeGreaterThanOrEqual(Date.parse(b.finishedAt!));

    const dashboard = (await owner.client.get('/api/v1/dashboard')).body;
    const row = dashboard.projects.find((p: { id: string }) => p.id === projectId);
    expect(Object.values(row.deployments).map((x: any) => `${x.environment.name} ${x.release.version} ${x.state}`)).toEqual(
      expect.arrayContaining(['Dev 1.0.0 succeeded', 'Prod 1.0.0 succeeded']),
    );
  });

  it('fails on a failing deploy without skipping the always step; with guided failure pauses, and retry succeeds once the cause is gone', async () => {
    writeFileSync(breaker, '');
    const failed = await ended((await deploy('Prod')).body.id);
    expect(failed.state).toBe('failed');
    expect(step(failed, 'deploy').targets.map((t) => [t.agent.name, t.state])).toEqual([
      ['web-2', 'failed'],
      ['web-3', 'not_started'],
    ]);
    expect(step(failed, 'notify').state).toBe('succeeded');

    const guided = (await deploy('Prod', { guidedFailure: true })).body;
    const paused = await ended(guided.id, ['paused']);
    const [interruption] = paused.interruptions;
    expect(interruption).toMatchObject({ kind: 'guided-failure', actions: ['retry', 'ignore', 'exclude', 'abort'], answer: null });
    const viewer = await makeMember({ client: () => new HttpClient(cp.url) } as Parameters<typeof makeMember>[0], owner, 'viewer');
    expect((await viewer.client.post(`/api/v1/interruptions/${interruption.id}`, { action: 'retry' })).status).toBe(403);
    expect((await owner.client.post(`/api/v1/interruptions/${interruption.id}`, { action: 'proceed' })).status).toBe(422);

    rmSync(breaker);
    const answered = await owner.client.post(`/api/v1/interruptions/${interruption.id}`, { action: 'retry', note: 'fixed the disk' });
    expect(answered.status).toBe(200);
    const again = await owner.client.post(`/api/v1/interruptions/${interruption.id}`, { action: 'retry' });
    expect([again.status, again.body.error.code]).toEqual([409, 'INTERRUPTION_ANSWERED']);
    const done = await ended(guided.id);
    expect(done.state).toBe('succeeded');
    expect(step(done, 'deploy').targets.map((t) => t.state)).toEqual(['succeeded', 'succeeded']);
    expect(done.interruptions[0].answer).toMatchObject({ action: 'retry', by: owner.email });
    expect(existsSync(breaker)).toBe(false);
  });

  it('waits at a manual step for proceed; a second deployment waits in line behind it', async () => {
    await owner.client.put(`/api/v1/projects/${projectId}/process`, processWith([{ name: 'approve', kind: 'manual', instructions: 'Check the change ticket' }]));
    release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body;
    const first = (await deploy('Dev')).body;
    const paused = await ended(first.id, ['paused']);
    expect(step(paused, 'approve').state).toBe('waiting');
    const second = (await deploy('Dev')).body;
    expect(second).toMatchObject({ state: 'queued', waitingFor: first.id });
    await owner.client.post(`/api/v1/interruptions/${paused.interruptions[0].id}`, { action: 'proceed' });
    expect((await ended(first.id)).state).toBe('succeeded');
    const secondPaused = await ended(second.id, ['paused']);
    expect((await owner.client.post(`/api/v1/deployments/${second.id}/cancel`, {})).status).toBe(200);
    const cancelled = await ended(secondPaused.id);
    expect(cancelled.state).toBe('cancelled');
    expect(step(cancelled, 'deploy').state).toBe('cancelled');
  });

  it('finishes after kill -9 of the control plane mid-deployment, every job run exactly once', async () => {
    const res = await deploy('Prod', { skipSteps: ['approve'] });
    expect(res.status).toBe(201);
    await waitFor('deploy to start', async () => {
      const d = (await owner.client.get(`/api/v1/deployments/${res.body.id}`)).body as Deployment;
      return step(d, 'deploy').targets.some((t) => t.state === 'active');
    });
    await cp.stop('SIGKILL');
    cp = await startControlPlane(env());
    const d = await ended(res.body.id, ['succeeded', 'failed', 'cancelled'], 60_000);
    expect(d.state).toBe('succeeded');
    const task = (await owner.client.get(`/api/v1/tasks/${d.taskId}`)).body;
    // One job per target, each run once: migrate on db-1, deploy and notify on web-2 and web-3.
    expect(task.jobs.map((j: { agentName: string; attempt: number }) => `${j.agentName}#${j.attempt}`).sort()).toEqual(['db-1#1', 'web-2#1', 'web-2#1', 'web-3#1', 'web-3#1']);
    expect(readdirSync(marks).filter((f) => f.startsWith(`migrate-${d.id}-`))).toHaveLength(1);
  });

  it('groups its log by step and agent', async () => {
    const [d] = (await owner.client.get(`/api/v1/deployments?projectId=${projectId}&environment=Prod&state=succeeded&limit=1`)).body as Deployment[];
    const log = (await owner.client.get(`/api/v1/deployments/${d.id}/log`)).text;
    const order = ['== migrate ==', '[db-1] migrated on migrate', '== deploy ==', '[web-2] deployed', '[web-3] deployed', '== notify ==', '[web-2] notified', '[web-3] notified'].map((s) =>
      log.indexOf(s),
    );
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]))).toBe(true);
    const json = (await owner.client.get(`/api/v1/deployments/${d.id}/log`, { accept: 'application/json' })).body;
    expect(json.steps.map((s: { step: string; agents: { agent: string }[] }) => `${s.step}: ${s.agents.map((a) => a.agent).join(' ')}`)).toEqual([
      'migrate: db-1',
      'approve: ', // skipped when it was asked for: nothing ran
      'deploy: web-2 web-3',
      'notify: web-2 web-3',
    ]);
  });

  it('deploys automatically to an environment whose phase a success opens, when the lifecycle asks for it', async () => {
    const lifecycle = (
      await owner.client.post('/api/v1/lifecycles', {
        name: 'Straight to Prod',
        phases: [
          { name: 'Development', environments: ['Dev'] },
          { name: 'Production', environments: ['Prod'], autoDeploy: ['Prod'] },
        ],
      })
    ).body;
    const project = (await owner.client.post('/api/v1/projects', { name: `Auto ${randomBytes(2).toString('hex')}`, lifecycleId: lifecycle.id })).body;
    await owner.client.put(`/api/v1/projects/${project.id}/process`, { steps: [{ name: 'hello', kind: 'script', script: { syntax: 'bash', body: 'echo hi' }, targetRoles: ['web'] }] });
    const auto = (await owner.client.post(`/api/v1/projects/${project.id}/releases`, {})).body;
    expect((await ended((await owner.client.post(`/api/v1/releases/${auto.id}/deployments`, { environment: 'Dev' })).body.id)).state).toBe('succeeded');
    const prod = await waitFor('the automatic deployment to Prod', async () => {
      const list = (await owner.client.get(`/api/v1/deployments?projectId=${project.id}&environment=Prod`)).body as (Deployment & { createdBy: string })[];
      return list[0];
    });
    expect(prod.createdBy).toBe('auto-deploy');
    expect((await ended(prod.id)).state).toBe('succeeded');
  });

  it('runs a startWithPrevious step beside the one before it, and tolerates maxErrors failures', async () => {
    const project = (await owner.client.post('/api/v1/projects', { name: `Side ${randomBytes(2).toString('hex')}` })).body;
    await owner.client.put(`/api/v1/projects/${project.id}/process`, {
      steps: [
        // In Prod, each roll job waits (20 s at most) for warm to have run: it can only end if warm runs beside it.
        {
          name: 'roll',
          kind: 'script',
          script: {
            syntax: 'bash',
            body: `if [ "$CORRAL_ENVIRONMENT" = Prod ]; then for i in $(seq 200); do [ -e "${marks}/warm-$CORRAL_DEPLOYMENT_ID" ] && break; sleep 0.1; done; [ -e "${marks}/warm-$CORRAL_DEPLOYMENT_ID" ] || exit 9; fi; [ "$CORRAL_AGENT_NAME" != web-2 ]`,
          },
          targetRoles: ['web'],
          maxParallelism: 1,
          maxErrors: 1,
        },
        { name: 'warm', kind: 'script', script: { syntax: 'bash', body: `touch "${marks}/warm-$CORRAL_DEPLOYMENT_ID"` }, targetRoles: ['db'], startWithPrevious: true },
      ],
    });
    const r = (await owner.client.post(`/api/v1/projects/${project.id}/releases`, {})).body;
    expect((await ended((await owner.client.post(`/api/v1/releases/${r.id}/deployments`, { environment: 'Dev' })).body.id)).state).toBe('succeeded');
    const d = await ended((await owner.client.post(`/api/v1/releases/${r.id}/deployments`, { environment: 'Prod' })).body.id);
    expect(d.state).toBe('succeeded');
    expect(step(d, 'roll')).toMatchObject({ state: 'succeeded', reason: '1 failed, within its maxErrors (1)' });
    expect(step(d, 'roll').targets.map((t) => [t.agent.name, t.state])).toEqual([
      ['web-2', 'failed'],
      ['web-3', 'succeeded'],
    ]);
    expect(step(d, 'warm').targets.map((t) => [t.agent.name, t.state])).toEqual([['db-1', 'succeeded']]);
    // web-2 failed by its own test, not by waiting for warm (exit 9).
    expect(step(d, 'roll').targets[0].exitCode).toBe(1);
  });

  it('lists deployments by project, environment and state, refusing a bad filter', async () => {
    const prod = (await owner.client.get(`/api/v1/deployments?projectId=${projectId}&environment=Prod&state=succeeded`)).body as Deployment[];
    expect(prod.length).toBeGreaterThanOrEqual(3);
    expect(prod.every((d) => d.state === 'succeeded')).toBe(true);
    const bad = await owner.client.get('/api/v1/deployments?state=sideways');
    expect([bad.status, bad.body.error.message]).toEqual([422, expect.stringContaining('state must be one of')]);
    expect((await owner.client.get('/api/v1/deployments?environment=Nowhere')).status).toBe(422);
  });

  it('keeps another organisation out', async () => {
    const other = await signUp({ client: () => new HttpClient(cp.url) });
    const mine = (await owner.client.get('/api/v1/deployments')).body[0];
    expect((await other.client.get(`/api/v1/deployments/${mine.id}`)).status).toBe(404);
    expect((await other.client.post(`/api/v1/deployments/${mine.id}/cancel`, {})).status).toBe(404);
    expect((await other.client.post(`/api/v1/releases/${release.id}/deployments`, { environment: 'Dev' })).status).toBe(404);
    expect((await other.client.get('/api/v1/deployments')).body).toEqual([]);
  });
});
