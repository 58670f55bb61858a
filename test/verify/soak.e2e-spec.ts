import { appendFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import { removeTempDirs, stopAllAgents, tempDir } from '../helpers/agent-process';
import { ROOT, waitFor } from '../helpers/control-plane-process';
import { type SignedUp, signUp } from '../helpers/factories';
import { HttpClient } from '../helpers/http-client';
import { type SoakAgent, startFleet } from '../helpers/soak-agents';
import { SoakApi } from '../helpers/soak-api';
import { type Anomaly, ANOMALY_RULES, checkHistory, figures, readHistory, readLedger, type Revocation } from '../helpers/soak-checker';
import { FaultInjector } from '../helpers/soak-faults';
import { SoakNodes } from '../helpers/soak-nodes';
import { SoakPostgres } from '../helpers/soak-postgres';
import { SoakRandom } from '../helpers/soak-random';
import { SoakWorkload } from '../helpers/soak-workload';

// The soak (issue: fault injection with a history checker). Two control-plane nodes on a
// PostgreSQL of the soak's own, 50 real agent processes behind TCP proxies of the test, tasks
// created through the public API at a steady rate, and every 20–40 s a fault: kill -9 of a node,
// of an agent or of PostgreSQL (each started again), an agent stopped (SIGSTOP) for longer than
// its lease, or agents' connections cut. One agent is revoked along the way. Then everything is
// brought back, every task is waited for, and a checker reads the database, the run record every
// job's script appends to its agent's file, and the agents' ledgers (rules: helpers/soak-checker.ts).
// Pass: no anomaly. The summary is printed and written to verify-results/soak.json, the logs of
// every process to verify-results/soak-logs/.
//
// Short form (CI, part of the normal e2e run): SOAK_MINUTES=2 (the default). Long form:
// `npm run soak -- --minutes 10`. SOAK_SEED replays the same choices (not the same timing).

const MINUTES = Number(process.env.SOAK_MINUTES ?? 2);
const SEED = Number(process.env.SOAK_SEED ?? Date.now() % 2 ** 31);
const AGENTS = 50;
const TASKS_PER_SECOND = 3;
/** Short, so an agent stopped for longer than a lease fits well inside one fault window. */
const LEASE_SECONDS = 10;
const FAULT_GAP_SECONDS: [number, number] = [20, 40];
// The first fault comes early, so the two-minute form meets as many as it can.
const FIRST_FAULT_SECONDS: [number, number] = [10, 20];
/** Revoking one agent while work is queued for it, a quarter into the run. */
const REVOKE_AT = 0.25;
const NODE_ENV = {
  LOG_LEVEL: 'info',
  JOB_LEASE_SECONDS: String(LEASE_SECONDS),
  JOB_OFFER_TIMEOUT_SECONDS: '5',
  // The revoked agent's queued jobs end this long after they were queued (failed, never delivered):
  // short enough for them to end within the run, long enough for no live agent's job to.
  JOB_DELIVERY_TIMEOUT_SECONDS: '60',
  JOB_REQUERY_SECONDS: '2',
  AGENT_PING_SECONDS: '3',
  NODE_HEARTBEAT_SECONDS: '3',
  NODE_DEAD_AFTER_SECONDS: '15',
};
const RESULTS = join(ROOT, 'verify-results', 'soak.json');
const LOGS = join(ROOT, 'verify-results', 'soak-logs');
const PROGRESS = join(ROOT, 'verify-results', 'soak.progress.log');
mkdirSync(join(ROOT, 'verify-results'), { recursive: true });
writeFileSync(PROGRESS, '');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

describe(`soak: ${MINUTES} min of faults under load, then the history checked (seed ${SEED})`, () => {
  const random = new SoakRandom(SEED);
  const began = Date.now();
  const phases: Record<string, number> = {};
  const progress = (line: string) => appendFileSync(PROGRESS, `${new Date().toISOString()} +${((Date.now() - began) / 1000).toFixed(1)}s ${line}\n`);
  const extra: Anomaly[] = [];
  const agentExits: string[] = [];
  const agentInterruptions: string[] = [];
  let postgres: SoakPostgres | undefined;
  let nodes: SoakNodes | undefined;
  const agents: SoakAgent[] = [];
  let owner: SignedUp;
  let api: SoakApi;
  let db: Pool | undefined;
  let runsDir: string;
  let workload: SoakWorkload | undefined;
  let faults: FaultInjector | undefined;
  let revocation: (Revocation & { jobsWaiting: number; exitCode: number | null | undefined }) | undefined;
  let result: { figures: ReturnType<typeof figures>; anomalies: Anomaly[] } | undefined;
  let aborted = false;

  const liveAgents = () => agents.filter((a) => !a.revoked);

  beforeAll(async () => {
    postgres = await SoakPostgres.start();
    progress(`postgresql up on port ${postgres.port}`);
    db = new Pool({ connectionString: postgres.url, max: 2 });
    db.on('error', () => undefined); // its connections die with every kill -9 of PostgreSQL; the next query opens another
    nodes = new SoakNodes({ ...NODE_ENV, DATABASE_URL: postgres.url });
    await nodes.startAll();
    progress('nodes up');
    owner = await signUp({ client: () => new HttpClient(nodes!.liveUrls()[0]) });
    const key = await owner.client.post('/api/v1/api-keys', { name: 'soak' });
    if (key.status !== 201) throw new Error(`api key: ${key.status} ${key.text}`);
    api = new SoakApi(key.body.key, () => nodes!.liveUrls());
    runsDir = tempDir('corral-soak-runs-');
    await startFleet(agents, owner, nodes, AGENTS, { unexpected: (what) => agentExits.push(what), interrupted: (what) => agentInterruptions.push(what) });
    phases.startupMs = Date.now() - began;
    progress(`${agents.length} agents up`);
  }, 300_000);

  afterAll(async () => {
    aborted = true;
    await workload?.stop();
    saveLogs();
    await Promise.all(agents.map((a) => a.stop()));
    await stopAllAgents(); // any agent command a failed start left behind
    await Promise.all(agents.map((a) => a.closeProxies()));
    await nodes?.stopAll();
    await db?.end();
    await postgres?.stop();
    removeTempDirs();
    writeSummary();
  }, 120_000);

  it(
    'every task ends once, no job runs twice, nothing is lost, no lease leaks, and the revoked agent starts nothing new',
    async () => {
      const soakStart = Date.now();
      await soak(MINUTES * 60_000);
      phases.soakMs = Date.now() - soakStart;

      const settleStart = Date.now();
      await bringEverythingBack();
      await waitFor('every job and task to end', async () => (await activeWork()) === 0, 240_000, 1_000);
      progress('every job ended');
      await probe();
      await waitFor("the agents' ledgers to settle", ledgersSettled, 45_000, 1_000).catch(() => progress('ledgers did not settle; the checker judges them as they are'));
      phases.settleMs = Date.now() - settleStart;

      const history = await readHistory(db!, owner.organizationId, runsDir, agents, workload!.created, revocation);
      extra.push(...nodes!.unexpectedExits.map((detail) => ({ rule: 'process-exited' as const, detail })));
      extra.push(...agentExits.map((detail) => ({ rule: 'process-exited' as const, detail })));
      result = { figures: figures(history), anomalies: [...checkHistory(history), ...extra] };
      expect(result.anomalies).toEqual([]);
    },
    (MINUTES * 60 + 900) * 1000,
  );

  // ----------------------------------------------------------------------------------------------

  /** Load all along, a fault every 20–40 s (one at a time, each undone before the next), and the revocation. */
  async function soak(durationMs: number) {
    const start = Date.now();
    const end = start + durationMs;
    const revokeAt = start + durationMs * REVOKE_AT;
    faults = new FaultInjector({ nodes: nodes!, postgres: postgres!, agents, random, leaseSeconds: LEASE_SECONDS, busyAgents, progress }, start);
    workload = new SoakWorkload({
      api,
      random,
      runsDir,
      targets: () => liveAgents().map((a) => a.agentId),
      liveUrls: () => nodes!.liveUrls(),
      tasksPerSecond: TASKS_PER_SECOND,
    });
    workload.start();
    progress(`soak: ${MINUTES} min, seed ${SEED}`);
    let nextFault = start + random.between(...FIRST_FAULT_SECONDS) * 1000;
    while (!aborted) {
      const revokeNext = !revocation && revokeAt < nextFault;
      const at = revokeNext ? revokeAt : nextFault;
      if (at >= end) break;
      await sleep(at - Date.now());
      if (revokeNext) await revokeOneAgent();
      else {
        await nodes!.ready(); // a node that crashed is back before the next fault
        await faults.injectNext();
        nextFault = Math.max(nextFault + random.between(...FAULT_GAP_SECONDS) * 1000, Date.now() + 5_000);
      }
    }
    if (!revocation) await revokeOneAgent();
    await sleep(end - Date.now());
    await workload.stop();
    progress(`soak over: ${workload.created.length} tasks created`);
  }

  /**
   * Queues work for one agent, then revokes it while a job of it runs and others wait: the ones
   * waiting must never start, and it must stop.
   */
  async function revokeOneAgent() {
    const agent = random.pick(liveAgents().filter((a) => a.up && !a.paused));
    await workload!.createNow([agent.agentId], 6, 'slow');
    await waitFor(`a job running on ${agent.name}`, async () => (await busyAgents()).has(agent.agentId), 20_000, 200).catch(() => undefined);
    agent.revoked = true; // from now on no task targets it
    const requestedAt = Date.now();
    const answer = await api.anyNode('POST', `/api/v1/agents/${agent.agentId}/revoke`, { reason: 'soak: revoked mid-run' });
    const answeredAt = Date.now();
    if (!answer.ok || answer.status !== 200) throw new Error(`revoking ${agent.name}: ${JSON.stringify(answer)}`);
    const waiting = await db!.query(`SELECT count(*)::int AS n FROM jobs WHERE agent_id = $1 AND state IN ('queued', 'offered')`, [agent.agentId]);
    const exitCode = await agent.process!.waitForExit(15_000).catch(() => undefined);
    if (exitCode !== 3)
      extra.push({ rule: 'revoked-kept-running', detail: `${agent.name} was revoked but ${exitCode === undefined ? 'still runs after 15 s' : `exited with ${exitCode}, not 3`}` });
    revocation = { agentId: agent.agentId, name: agent.name, requestedAt, answeredAt, jobsWaiting: waiting.rows[0].n, exitCode };
    progress(`revoked ${agent.name} with ${revocation.jobsWaiting} job(s) waiting; it exited with ${exitCode}`);
  }

  /** Undoes whatever is still undone, and waits (bounded) until every node is ready and every agent online. */
  async function bringEverythingBack() {
    for (const agent of agents) agent.resume();
    await nodes!.ready();
    await Promise.all(
      liveAgents()
        .filter((a) => !a.up)
        .map((a) => a.run()),
    );
    let offline: { id: string; name: string; connection: unknown }[] = [];
    await waitFor(
      'every agent online',
      async () => {
        const answer = await api.anyNode('GET', '/api/v1/agents');
        if (!answer.ok || answer.status !== 200) return false;
        offline = answer.body.items.filter((a: { status: string; connection: { state: string } }) => a.status === 'approved' && a.connection.state !== 'online');
        return offline.length === 0;
      },
      120_000,
      500,
    ).catch(async () => {
      // Each of these runs and says (status.json) whether it is connected: the API and the agent disagree.
      const rows = await db!.query(`SELECT id, connected_node_id AS node, transport, last_seen_at AS seen, last_error AS error FROM agents WHERE id = ANY ($1::uuid[])`, [
        offline.map((a) => a.id),
      ]);
      const nodeRows = await db!.query(`SELECT id, started_at AS started, last_seen_at AS seen, stopped_at AS stopped FROM server_nodes ORDER BY started_at`);
      for (const a of offline) {
        const agent = agents.find((x) => x.agentId === a.id);
        const own = agent ? readFileSafe(join(agent.stateDir, 'status.json')) : 'not a soak agent';
        const row = JSON.stringify(rows.rows.find((r) => r.id === a.id));
        extra.push({
          rule: 'agent-offline',
          detail: `${a.name} shows ${JSON.stringify(a.connection)} after 120 s; its process ${agent?.up ? 'runs' : 'is not running'}; its status.json: ${own}; its row: ${row}; nodes: ${JSON.stringify(nodeRows.rows)}`,
        });
      }
    });
    progress('everything is back');
  }

  /** After the soak, every agent still takes new work: nothing leaked its capacity (a lease, a slot). */
  async function probe() {
    const [task] = await workload!.createNow(
      liveAgents().map((a) => a.agentId),
      1,
      'quick',
    );
    if (!task) throw new Error(`the probe task was not created: ${JSON.stringify(workload!.refused)}`);
    const id = task.id;
    const ended = await waitFor(
      'the probe task to end',
      async () => {
        const t = await api.anyNode('GET', `/api/v1/tasks/${id}`);
        return t.ok && t.status === 200 && !['queued', 'running'].includes(t.body.state) ? t.body : undefined;
      },
      90_000,
      500,
    ).catch(() => undefined);
    const jobs: { agentName: string; state: string; message: string | null }[] = ended?.jobs ?? [];
    for (const job of jobs.filter((j) => j.state !== 'succeeded')) extra.push({ rule: 'probe-failed', detail: `${job.agentName}: the probe job ended ${job.state} (${job.message})` });
    if (!ended) extra.push({ rule: 'probe-failed', detail: `the probe task ${id} did not end within 90 s` });
    progress(`probe: ${ended?.state ?? 'did not end'}`);
  }

  /** Agents with a job running now. */
  async function busyAgents(): Promise<Set<string>> {
    const rows = await db!.query(`SELECT DISTINCT agent_id AS id FROM jobs WHERE organization_id = $1 AND state = 'running'`, [owner.organizationId]);
    return new Set(rows.rows.map((r) => r.id));
  }

  let activeLoggedAt = 0;
  /** Jobs and tasks not yet in a terminal state; every 10 s the jobs among them go to the progress log. */
  async function activeWork(): Promise<number> {
    const jobs = await db!.query(
      `SELECT j.id, j.state, j.attempt, a.name AS agent, j.lease_expires_at AS lease, j.message FROM jobs j JOIN agents a ON a.id = j.agent_id
        WHERE j.organization_id = $1 AND j.state IN ('queued', 'offered', 'running') ORDER BY j.created_at`,
      [owner.organizationId],
    );
    const tasks = await db!.query(`SELECT count(*)::int AS n FROM tasks WHERE organization_id = $1 AND state IN ('queued', 'running', 'cancelling')`, [owner.organizationId]);
    if (jobs.rows.length && Date.now() - activeLoggedAt > 10_000) {
      activeLoggedAt = Date.now();
      progress(`still active: ${jobs.rows.map((j) => `${j.id} ${j.state} #${j.attempt} on ${j.agent}${j.lease ? ` lease ${j.lease.toISOString()}` : ''}`).join('; ')}`);
    }
    return jobs.rows.length + tasks.rows[0].n;
  }

  /** No agent up holds an accepted or running job, or an unacknowledged finish. */
  function ledgersSettled(): boolean {
    return liveAgents().every((a) => readLedger(a).every((e) => !['accepted', 'running', 'finished'].includes(e.state)));
  }

  function saveLogs() {
    rmSync(LOGS, { recursive: true, force: true });
    mkdirSync(LOGS, { recursive: true });
    const counts = new Map<string, number>();
    for (const { slot, node } of nodes?.started ?? []) {
      counts.set(slot, (counts.get(slot) ?? 0) + 1);
      writeFileSync(join(LOGS, `node-${slot}-${counts.get(slot)}.log`), node.output());
    }
    for (const agent of agents) agent.incarnations.forEach((p, i) => writeFileSync(join(LOGS, `${agent.name}-${i + 1}.log`), p.output));
    if (postgres) writeFileSync(join(LOGS, 'postgresql.log'), postgres.log());
    if (runsDir) cpSync(runsDir, join(LOGS, 'runs'), { recursive: true });
  }

  function writeSummary() {
    const anomalies = result?.anomalies ?? extra;
    const summary = {
      form: MINUTES <= 2 ? 'short' : 'long',
      minutes: MINUTES,
      seed: SEED,
      completed: result !== undefined,
      agents: AGENTS,
      nodes: 2,
      settings: { ...NODE_ENV, tasksPerSecond: TASKS_PER_SECOND, faultGapSeconds: FAULT_GAP_SECONDS },
      durationMs: { ...phases, total: Date.now() - began },
      faults: { injected: faults?.counts ?? {}, total: faults?.events.length ?? 0, events: faults?.events ?? [] },
      revocation: revocation ?? null,
      // Signals the soak did not send (another user of the machine): not anomalies, but they shape the run.
      interruptions: [...(nodes?.interruptions ?? []), ...agentInterruptions],
      tasksCreated: workload?.created.length ?? 0,
      createsRefused: workload?.refused ?? {},
      ...(result?.figures ?? {}),
      anomalies: { count: anomalies.length, byRule: countRules(anomalies), rules: ANOMALY_RULES, list: anomalies },
    };
    writeFileSync(RESULTS, `${JSON.stringify(summary, null, 2)}\n`);
    const f = result?.figures;
    const lines = [
      `verify/soak (${summary.form} form, ${MINUTES} min, seed ${SEED}): ${summary.faults.total} faults injected ${JSON.stringify(summary.faults.injected)}, in ${(summary.durationMs.total / 1000).toFixed(0)} s`,
      `  tasks created (201): ${summary.tasksCreated}, refused ${JSON.stringify(summary.createsRefused)}, unconfirmed ${f?.tasks.unconfirmed ?? '?'}; by state ${JSON.stringify(f?.tasks.byState ?? {})}`,
      `  jobs: ${f?.jobs.total ?? '?'} (${f?.jobs.retried ?? '?'} retried), ${f?.processesStarted ?? '?'} processes started; endings ${JSON.stringify(f?.jobs.byEnding ?? {})}`,
      `  revoked ${revocation?.name ?? 'nobody'} with ${revocation?.jobsWaiting ?? '?'} job(s) waiting${summary.interruptions.length ? `; interrupted from outside: ${summary.interruptions.length}` : ''}`,
      `  anomalies: ${anomalies.length}${anomalies.length ? ` ${JSON.stringify(countRules(anomalies))}` : ''}; written to ${RESULTS}`,
      ...anomalies.slice(0, 10).map((a) => `    ${a.rule}: ${a.detail.split('\n')[0]}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    return (err as Error).message;
  }
}

function countRules(anomalies: Anomaly[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of anomalies) counts[a.rule] = (counts[a.rule] ?? 0) + 1;
  return counts;
}
