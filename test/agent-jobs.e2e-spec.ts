import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ControlPlaneProcess, startControlPlane, waitFor } from './helpers/control-plane-process';
import { type AgentProcess, approve, deadPort, enrollAgent, type Enrolled, removeTempDirs, spawnAgent, stopAllAgents, tempDir } from './helpers/agent-process';
import { signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// Work done by the real agent program: scripts really run on this host, under a real control plane.

interface Task {
  id: string;
  state: string;
  jobs: { id: string; state: string; exitCode: number | null; message: string | null; attempt: number }[];
}

async function runScript(owner: SignedUp, agentId: string, body: string, extra: Record<string, unknown> = {}): Promise<Task> {
  const res = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agentId] }, script: { syntax: 'bash', body }, ...extra });
  if (res.status !== 201) throw new Error(`task: ${res.status} ${res.text}`);
  return res.body;
}

/**
 * Waits for a task to end; a timeout says where it stood, and the lines of `logs` (the agent's,
 * the control plane's) that name one of its jobs, so a failure shows which job hung and how.
 */
async function ended(owner: SignedUp, id: string, timeoutMs = 20_000, logs?: () => string): Promise<Task> {
  let last: Task | undefined;
  try {
    return await waitFor(
      `task ${id} to end`,
      async () => {
        const res = await owner.client.get(`/api/v1/tasks/${id}`);
        last = res.body;
        return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(res.body.state) ? (res.body as Task) : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    const jobIds = last?.jobs.map((j) => j.id) ?? [];
    const lines = (logs?.() ?? '').split('\n').filter((line) => jobIds.some((jobId) => line.includes(jobId)));
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}${lines.length ? `\nlog lines about its jobs:\n${lines.join('\n')}` : ''}`, { cause: err });
  }
}

/** How many times the agent has connected over WebSocket so far. */
function connections(run: AgentProcess): number {
  return run.output.match(/connected over websocket/g)?.length ?? 0;
}

/** The agent's backoff (full jitter, capped at a minute) may keep it away that long after a slow restart. */
function reconnected(run: AgentProcess, before: number) {
  return waitFor('the agent to reconnect', () => connections(run) > before, 90_000);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(() => stopAllAgents());
afterAll(() => removeTempDirs());

describe('jobs run by the agent program', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cp: ControlPlaneProcess;
  let owner: SignedUp;
  let port: number;
  const env = () => ({ DATABASE_URL: db.url, PORT: String(port), JOB_REQUERY_SECONDS: '1', JOB_OFFER_TIMEOUT_SECONDS: '3', JOB_CANCEL_GRACE_SECONDS: '2' });

  beforeAll(async () => {
    db = await createTestDatabase();
    port = await deadPort();
    cp = await startControlPlane(env());
    owner = await signUp({ client: () => new HttpClient(cp.url) });
  });
  afterAll(async () => {
    await cp?.stop();
    await db?.drop();
  });

  async function approvedAgent(transport: 'ws' | 'poll' = 'ws', extraArgs: string[] = []): Promise<{ agent: Enrolled; run: AgentProcess }> {
    const agent = await enrollAgent(owner, [cp.url]);
    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir, '--transport', transport, ...extraArgs]);
    await run.waitForOutput(/approved: agent/);
    return { agent, run };
  }

  it('refuses a task for a pending agent', async () => {
    const agent = await enrollAgent(owner, [cp.url]);
    const res = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'bash', body: 'true' } });
    expect([res.status, res.body.error.code]).toEqual([422, 'TARGETS_REFUSED']);
    expect(res.body.error.message).toMatch(/pending approval/);
  });

  it.each(['ws', 'poll'] as const)('runs a failing script over %s: ends failed with its exit code and both output streams in the log', async (transport) => {
    const { agent } = await approvedAgent(transport);
    const task = await runScript(owner, agent.agentId, 'echo "to stdout"; echo "to stderr" >&2; exit 3');
    const done = await ended(owner, task.id);
    expect(done.state).toBe('failed');
    expect(done.jobs[0]).toMatchObject({ state: 'failed', exitCode: 3 });
    const log = (await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text;
    expect(log).toContain('to stdout\n');
    expect(log).toContain('to stderr\n');
  });

  it('cancels a running sleep 300: the task ends cancelled and the process is gone', async () => {
    const { agent } = await approvedAgent();
    const dir = tempDir('corral-job-');
    const task = await runScript(owner, agent.agentId, `echo $$ > ${dir}/pid; sleep 300 & echo $! > ${dir}/child; wait`);
    const pids = await waitFor('the script and its sleep to start', () => {
      try {
        const both = ['pid', 'child'].map((f) => Number(readFileSync(join(dir, f), 'utf8')));
        return both.every((n) => n > 0) ? both : undefined;
      } catch {
        return undefined;
      }
    });
    expect(pids.every(processAlive)).toBe(true);
    expect((await owner.client.post(`/api/v1/tasks/${task.id}/cancel`)).body.state).toBe('cancelling');
    const done = await ended(owner, task.id);
    expect(done.state).toBe('cancelled');
    expect(done.jobs[0].state).toBe('cancelled');
    await waitFor('the script and its sleep to be gone', () => !pids.some(processAlive), 5_000);
  });

  it('kills a job that outlives timeoutSeconds and marks it timed_out', async () => {
    const { agent } = await approvedAgent();
    const task = await runScript(owner, agent.agentId, 'echo started; sleep 30', { timeoutSeconds: 1 });
    const done = await ended(owner, task.id);
    expect(done.state).toBe('timed_out');
    expect(done.jobs[0].state).toBe('timed_out');
    expect((await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text).toMatch(/started\n[\s\S]*timed out after 1 s/);
  });

  /**
   * Queues work for a stopped agent, then changes its policy and starts it again: the server
   * queued the work by the policy it knew, and only the agent can refuse it.
   */
  async function queuedThenForbidden(agent: Enrolled, run: AgentProcess, queue: () => Promise<string>, policy: object): Promise<{ taskId: string; run: AgentProcess }> {
    await run.stop('SIGTERM');
    const taskId = await queue();
    writeFileSync(join(agent.stateDir, 'policy.json'), JSON.stringify(policy), { mode: 0o600 });
    const again = spawnAgent(['run', '--state-dir', agent.stateDir, '--transport', 'ws']);
    return { taskId, run: again };
  }

  it('the agent refuses a job its local policy forbids, saying why, even when the server thought it allowed', async () => {
    const started = await approvedAgent();
    const { agent } = started;
    const { taskId, run } = await queuedThenForbidden(agent, started.run, async () => (await runScript(owner, agent.agentId, 'echo must not run')).id, { frozen: true });
    const done = await ended(owner, taskId);
    expect(done.state).toBe('failed');
    expect(done.jobs[0].message).toMatch(/local policy forbids it .*frozen/);
    expect(run.output).toMatch(/refused .*frozen/);
  });

  it('answers a health check with facts it gathers itself: the agent shows its verdict and facts; a policy without the kind refuses it', async () => {
    const { agent } = await approvedAgent();
    const res = await owner.client.post('/api/v1/agents/health-checks', { agentIds: [agent.agentId] });
    expect(res.status).toBe(201);
    const done = await ended(owner, res.body.id);
    expect(done.state).toBe('succeeded');
    const health = await waitFor('health recorded', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.health);
    expect(health).toMatchObject({ taskId: res.body.id, verdict: expect.stringMatching(/^(healthy|warning|unhealthy)$/) });
    expect(health.facts).toMatchObject({ agentVersion: expect.any(String), stateDir: { writable: true }, policy: { allowedJobKinds: expect.arrayContaining(['health-check']) } });
    expect(health.facts.interpreters.sh).toMatchObject({ path: expect.stringMatching(/\/sh$/) });
    expect(health.facts.interpreters.node).toMatchObject({ version: process.version });
    expect(Math.abs(health.clockOffsetMs)).toBeLessThan(5_000);
    expect((await owner.client.get(`/api/v1/tasks/${res.body.id}/log`)).text).toMatch(/health/i);

    const started = await approvedAgent();
    const strict = started.agent;
    const queue = async () => {
      const res = await owner.client.post('/api/v1/agents/health-checks', { agentIds: [strict.agentId] });
      if (res.status !== 201) throw new Error(`health check: ${res.status} ${res.text}`);
      return res.body.id as string;
    };
    const { taskId, run } = await queuedThenForbidden(strict, started.run, queue, { allowedJobKinds: ['script'] });
    const failed = await ended(owner, taskId);
    expect(failed.state).toBe('failed');
    expect(failed.jobs[0].message).toMatch(/local policy forbids it .*job kind "health-check" is not allowed/);
    expect(run.output).toMatch(/refused/);
    expect((await owner.client.get(`/api/v1/agents/${strict.agentId}`)).body.health).toMatchObject({ verdict: 'unhealthy', facts: null });
  });

  it('survives kill -9 of the control plane in the middle of 40 tasks: all succeed, each script ran exactly once', async () => {
    const { agent, run } = await approvedAgent('ws', ['--max-jobs', '4']);
    const dir = tempDir('corral-ran-');
    const ran = join(dir, 'ran.log');
    const tasks: Task[] = [];
    for (let i = 0; i < 40; i++) tasks.push(await runScript(owner, agent.agentId, `sleep 0.2; echo "$CORRAL_JOB_ID" >> ${ran}`));
    await waitFor('some tasks to finish', () => {
      try {
        return readFileSync(ran, 'utf8').split('\n').filter(Boolean).length >= 8;
      } catch {
        return false;
      }
    });
    const before = connections(run);
    const killed = cp;
    killed.child.kill('SIGKILL');
    await killed.exited;
    cp = await startControlPlane(env());
    await reconnected(run, before);
    const logs = () => [run.output, killed.output(), cp.output()].join('\n');
    for (const t of tasks) expect((await ended(owner, t.id, 60_000, logs)).state).toBe('succeeded');
    const lines = readFileSync(ran, 'utf8').split('\n').filter(Boolean);
    expect(lines.sort()).toEqual(tasks.map((t) => t.jobs[0].id).sort());
    // A restart and 40 tasks: on a loaded machine more than jest's default minute, within the waits' own bounds.
  }, 240_000);

  it('with --spool-max-bytes, output past the cap while the control plane is down drops the oldest; the job succeeds and its log says what went', async () => {
    const { agent, run } = await approvedAgent('ws', ['--spool-max-bytes', '64KiB']);
    const dir = tempDir('corral-spool-');
    // About 400 KB of output once told to go, then a last line: far past the 64 KiB cap.
    const body = `echo started; while [ ! -e ${dir}/go ]; do sleep 0.1; done; head -c 400000 /dev/zero | tr '\\0' x | fold -w 99; echo the-last-line`;
    const task = await runScript(owner, agent.agentId, body);
    await waitFor('the first output stored', async () => (await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text.includes('started'));

    const before = connections(run);
    cp.child.kill('SIGKILL');
    await cp.exited;
    writeFileSync(join(dir, 'go'), '');
    await run.waitForOutput(/dropped the oldest .* of unsent output of job .*: the log spools reached their 64 KiB cap/);
    expect(run.running).toBe(true);
    cp = await startControlPlane(env());
    await reconnected(run, before);

    const done = await ended(owner, task.id, 60_000);
    expect(done.state).toBe('succeeded');
    const log = (await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text;
    expect(log).toMatch(/^\[corral\] (up to )?[\d.]+ KiB of output was dropped on the agent: the spool reached its 64 KiB cap while the control plane was unreachable$/m);
    expect(log).toContain('the-last-line');
    expect(log.length).toBeLessThan(200_000);
  }, 240_000);

  it('node and pwsh scripts run with their own interpreter; a missing one fails the job saying so', async () => {
    const { agent } = await approvedAgent();
    const node = await ended(owner, (await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'node', body: 'console.log(6 * 7)' } })).body.id);
    expect(node.state).toBe('succeeded');
    const log = (await owner.client.get(`/api/v1/tasks/${node.id}/log`)).text;
    expect(log).toMatch(/^running node as .* in .*\/work\//m);
    expect(log).toMatch(/^42$/m);
    const hasPwsh = (() => {
      try {
        execFileSync('pwsh', ['-v'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    const pwsh = await ended(owner, (await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'pwsh', body: 'Write-Output 42' } })).body.id);
    if (!hasPwsh) {
      expect(pwsh.state).toBe('failed');
      expect((await owner.client.get(`/api/v1/tasks/${pwsh.id}/log`)).text).toMatch(/pwsh/);
    }
  });
});
