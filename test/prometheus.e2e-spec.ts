import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitFor } from './helpers/control-plane-process';
import { makeApprovedAgent, signUp } from './helpers/factories';
import { offerIn } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

const TOKEN = 'scrape-for-promtool';
const ALERTS = join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'corral.json');

/** Debian's promtool (installed on demand as root by scripts/find-promtool.sh). */
function promtool(): string {
  return execFileSync('bash', [join(ROOT, 'scripts', 'find-promtool.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim();
}

/** The metric families an exposition names (a histogram's _bucket, _sum and _count are its family). */
function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
}

/** The corral_ metric families an expression refers to. */
function namesIn(expr: string): string[] {
  return [...expr.matchAll(/\bcorral_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

// What Prometheus, its alert rules, the Grafana dashboard and a log shipper see of a node, checked
// with Prometheus's own linter: a node that has done some work (an agent, a task run to its end).
describe('metrics for Prometheus, Grafana and log shippers', () => {
  let app: TestApp;
  let exposition: string;
  let taskId: string;
  const tool = promtool();
  const dir = mkdtempSync(join(tmpdir(), 'corral-metrics-log-'));
  const metricsLogPath = join(dir, 'metrics.jsonl');

  beforeAll(async () => {
    app = await startTestApp({ METRICS_TOKEN: TOKEN, CORRAL_METRICS_LOG: metricsLogPath });
    const owner = await signUp(app);
    const agent = await makeApprovedAgent(app, owner);
    const socket = await agent.connect();
    const task = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'true' } });
    const offer = await socket.next('the offer', (m) => offerIn(agent, m, task.body.id));
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    await socket.next('start', (m) => m.type === 'server.job.start');
    socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 0 });
    taskId = task.body.id;
    await waitFor('the task to succeed', async () => (await owner.client.get(`/api/v1/tasks/${task.body.id}`)).body.state === 'succeeded' || undefined);
    exposition = await (await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    socket.close();
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes `promtool check metrics` without a warning', () => {
    const result = spawnSync(tool, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    expect({ status: result.status, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, output: '' });
  });

  it('says which version each node runs, counts agents by status, and tasks by kind with their durations', () => {
    expect(exposition).toMatch(/^corral_build_info\{version="\d+\.\d+\.\d+",node="[0-9a-f-]{36}"\} 1$/m);
    expect(exposition).toMatch(/^corral_agents\{status="approved",connected="true"\} 1$/m);
    expect(exposition).toMatch(/^corral_tasks_finished_total\{kind="script",state="succeeded"\} 1$/m);
    // How long they took, by kind.
    expect(exposition).toMatch(/^corral_task_duration_seconds_count\{kind="script",state="succeeded"\} 1$/m);
    expect(exposition).toMatch(/^corral_job_duration_seconds_count\{kind="script",state="succeeded"\} 1$/m);
    // Request durations by route template, never by raw path or organisation.
    expect(exposition).toMatch(/corral_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/tasks\/:id",status="200"\} \d+/);
    expect(exposition).not.toMatch(/route="\/api\/v1\/tasks\/[0-9a-f]{8}-/);
  });

  it('has alert rules that pass `promtool check rules`, on metrics the node serves', () => {
    const result = spawnSync(tool, ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    const served = families(exposition);
    const named = [...new Set(namesIn(readFileSync(ALERTS, 'utf8')))];
    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((n) => !served.has(n))).toEqual([]);
  });

  it('has a Grafana dashboard whose every query names metrics the node serves', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const served = families(exposition);
    const missing = dashboard.panels.flatMap((p) =>
      p.targets.flatMap((t) =>
        namesIn(t.expr)
          .filter((n) => !served.has(n))
          .map((n) => `${p.title}: ${n}`),
      ),
    );
    expect(missing).toEqual([]);
    expect(dashboard.panels.map((p) => p.title)).toEqual(expect.arrayContaining(['Queue depth (jobs an agent could be offered now)', 'Dispatch latency', 'Agents online and offline']));
  });

  it('writes one JSON line per finished task and per answered API request to CORRAL_METRICS_LOG', async () => {
    const lines = await waitFor('the task’s line in the metrics log', () => {
      const read = readFileSync(metricsLogPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return read.some((l) => l.type === 'task' && l.taskId === taskId) ? read : undefined;
    });
    expect(lines.find((l) => l.type === 'task')).toEqual({
      time: expect.any(String),
      type: 'task',
      taskId,
      organizationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      kind: 'script',
      outcome: 'succeeded',
      queuedSeconds: expect.any(Number),
      runningSeconds: expect.any(Number),
      jobs: 1,
    });
    const created = lines.find((l) => l.type === 'request' && l.route === '/api/v1/tasks' && l.method === 'POST');
    expect(created).toEqual({
      time: expect.any(String),
      type: 'request',
      method: 'POST',
      route: '/api/v1/tasks',
      status: 201,
      durationMs: expect.any(Number),
      organizationId: expect.any(String),
    });
    // By route template: no request line holds an id in its route.
    expect(lines.filter((l) => l.type === 'request' && /[0-9a-f]{8}-[0-9a-f]{4}/.test(String(l.route)))).toEqual([]);
  });
});
