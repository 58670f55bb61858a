// npm run bench [-- --json] [-- --quick]: measures the control plane against simulated agents
// that speak the real protocol. Prints a table, or with --json one JSON object on the last line.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { withDatabase } from '../src/database/database-url';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { fingerprintOf, generateAgentKeyPair, privateKeyFromPem, verificationCodeOf } from '../src/protocol/identity';
import { type ChildProcess, spawn } from 'node:child_process';
import { MAIN, waitFor } from '../test/helpers/control-plane-process';
import { SimAgent } from './sim-agent';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { dispatchWs: 100, dispatchPoll: 20, rate: Number(process.env.BENCH_RATE ?? 100), seconds: 3, throughputTasks: 2000, throughputAgents: 20, idle: 1000 }
  : { dispatchWs: 1000, dispatchPoll: 100, rate: 200, seconds: 10, throughputTasks: 20_000, throughputAgents: 100, idle: Number(process.env.BENCH_IDLE ?? 10_000) };

const say = (line: string) => !json && process.stdout.write(`${line}\n`);

interface Seeded {
  id: string;
  privateKey: ReturnType<typeof privateKeyFromPem>;
}

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 100) / 100 : null);
  return { p50: at(50), p95: at(95), p99: at(99), n: sorted.length };
}

interface Node {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** The built control plane as a process on a fixed port (agents come back to the same address after a restart). */
async function startNode(env: Record<string, string>): Promise<Node> {
  const child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ') ?? []), MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${env.PORT}`;
  await waitFor(
    'the control plane to be ready',
    async () => {
      if (child.exitCode !== null) throw Object.assign(new Error(`the control plane exited with ${child.exitCode}`), { fatal: true });
      return (await fetch(`${url}/readyz`)).ok;
    },
    120_000,
    100,
  );
  return {
    child,
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'corral-bench-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as "postgres" and must reach it
  // BENCH_DATABASE_URL measures against another PostgreSQL server instead of the embedded one.
  const postgres = process.env.BENCH_DATABASE_URL ? undefined : new EmbeddedPostgres({ dataDir });
  const pg = postgres ? await postgres.start() : { url: process.env.BENCH_DATABASE_URL! };
  const dbUrl = withDatabase(pg.url, 'corral_bench');
  const admin = new Client({ connectionString: pg.url });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS corral_bench WITH (FORCE)');
  await admin.query('CREATE DATABASE corral_bench');
  await admin.end();
  const db = new Client({ connectionString: dbUrl });
  let server: Node | undefined;
  const agents: SimAgent[] = [];
  const port = await freePort();
  const start = async () => {
    server = await startNode({ DATABASE_URL: dbUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', LOG_FORMAT: 'json' });
    return server;
  };
  try {
    say(`starting a control plane on ${postgres ? 'an embedded' : 'the given'} PostgreSQL (${pg.url.replace(/:[^:@/]*@/, ':***@')})`);
    await start();
    await db.connect();
    const url = server!.url;

    // An organisation, an API key, and approved agents (seeded in SQL: enrolling 10,000 by hand measures nothing here).
    const signup = await fetch(`${url}/api/v1/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ organization: 'Bench', email: 'bench@example.test', password: 'bench bench bench' }) });
    const cookie = signup.headers.get('set-cookie')!.split(';')[0];
    const orgId = ((await signup.json()) as { organization: { id: string } }).organization.id;
    const key = (await (await fetch(`${url}/api/v1/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, origin: url }, body: JSON.stringify({ name: 'bench' }) })).json()) as { key: string };
    const api = (path: string, body: unknown) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key.key}` }, body: JSON.stringify(body) });

    const total = Math.max(SIZES.idle, SIZES.dispatchWs + SIZES.dispatchPoll + SIZES.throughputAgents);
    say(`seeding ${total} approved agents`);
    const seeded: Seeded[] = [];
    for (let i = 0; i < total; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, total - i) }, () => generateAgentKeyPair());
      const rows = await db.query<{ id: string }>(
        `INSERT INTO agents (organization_id, name, hostname, os, arch, agent_version, public_key, fingerprint, verification_code, status, decided_by_label, decided_at)
         SELECT $1, 'bench-' || n, 'bench', 'linux', 'x64', 'bench', pk, fp, vc, 'approved', 'bench', now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::int[]) AS u(pk, fp, vc, n) RETURNING id`,
        [orgId, batch.map((k) => k.publicKey), batch.map((k) => fingerprintOf(k.publicKey)), batch.map((k) => verificationCodeOf(k.publicKey)), batch.map((_, j) => i + j)],
      );
      rows.rows.forEach((r, j) => seeded.push({ id: r.id, privateKey: privateKeyFromPem(batch[j].privateKeyPem) }));
    }

    // --connections-only skips the work phases (dispatch, throughput).
    const work = !process.argv.includes('--connections-only');
    // 1. Dispatch latency: tasks created through the API at a steady rate, until the agent holds the offer.
    const sent = new Map<string, number>();
    const latency: Record<'websocket' | 'longPoll', number[]> = { websocket: [], longPoll: [] };
    const onOffer = (kind: 'websocket' | 'longPoll') => (offer: { name: string }, at: number) => {
      const t0 = sent.get(offer.name);
      if (t0 !== undefined) latency[kind].push(at - t0);
    };
    const wsAgents = seeded.slice(0, SIZES.dispatchWs).map((s) => new SimAgent({ ...s, server: url, maxJobs: 4, onOffer: onOffer('websocket') }));
    const pollAgents = seeded.slice(SIZES.dispatchWs, SIZES.dispatchWs + SIZES.dispatchPoll).map((s) => new SimAgent({ ...s, server: url, maxJobs: 4, onOffer: onOffer('longPoll') }));
    agents.push(...wsAgents, ...pollAgents);
    if (work) for (const a of wsAgents) a.connectWs();
    if (work) for (const a of pollAgents) void a.pollLoop();
    if (work) await waitFor('dispatch agents connected', () => [...wsAgents, ...pollAgents].every((a) => a.connected), 120_000);
    say(`dispatch: ${SIZES.rate} tasks/s for ${SIZES.seconds} s over ${wsAgents.length} WebSocket agents, then over ${pollAgents.length} long-polling agents`);
    const waits = new Map<string, number>();
    const sample = () =>
      process.argv.includes('--verbose')
        ? setInterval(() => {
          void db
            .query(`SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-') || ' ' || state || ' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS k FROM pg_stat_activity WHERE datname = 'corral_bench' AND pid <> pg_backend_pid()`)
            .then((r) => r.rows.forEach((row: { k: string }) => waits.set(row.k, (waits.get(row.k) ?? 0) + 1)));
          }, 100)
        : undefined;
    const showWaits = (phase: string) => {
      say(`where database connections were during ${phase} (samples every 100 ms):`);
      say([...waits].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, n]) => `${String(n).padStart(5)} ${k}`).join('\n'));
      waits.clear();
    };
    let sampler = sample();
    for (const [kind, group] of work ? ([['websocket', wsAgents], ['longPoll', pollAgents]] as const) : []) {
      const n = SIZES.rate * SIZES.seconds;
      const posts: Promise<unknown>[] = [];
      const begin = performance.now();
      for (let i = 0; i < n; i++) {
        const due = begin + (i * 1000) / SIZES.rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const name = `${kind}-${i}`;
        sent.set(name, performance.now());
        posts.push(api('/api/v1/tasks', { name, targets: { agentIds: [group[i % group.length].o.id] }, script: { syntax: 'sh', body: 'true' } }));
      }
      await Promise.all(posts);
      await waitFor(`${kind} offers`, () => latency[kind].length >= n, 60_000).catch(() => undefined);
    }
    clearInterval(sampler);
    if (process.argv.includes('--verbose')) {
      showWaits('dispatch');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      say(metrics.split('\n').filter((l) => /^corral_(dispatch_latency_seconds_(sum|count)|http_request_duration_seconds_(sum|count))/.test(l)).join('\n'));
    }
    for (const a of agents.splice(0)) a.stop();

    // 2. Throughput: a backlog drained by agents that finish at once.
    say(`throughput: a backlog of ${SIZES.throughputTasks} one-job tasks, drained by ${SIZES.throughputAgents} agents`);
    if (!work) SIZES.throughputTasks = 0;
    const drainers = seeded.slice(SIZES.dispatchWs + SIZES.dispatchPoll, SIZES.dispatchWs + SIZES.dispatchPoll + SIZES.throughputAgents);
    await db.query(
      `WITH t AS (
         INSERT INTO tasks (organization_id, name, kind, state, script_syntax, script_body, timeout_seconds, created_by_label)
         SELECT $1, 'tp-' || n, 'script', 'queued', 'sh', 'true', 60, 'bench' FROM generate_series(1, $2) AS n RETURNING id, name)
       INSERT INTO jobs (task_id, organization_id, agent_id, state, ready, queued_at)
       SELECT t.id, $1, ($3::uuid[])[1 + (substr(t.name, 4)::int % $4)], 'queued', true, now() FROM t`,
      [orgId, SIZES.throughputTasks, drainers.map((d) => d.id), drainers.length],
    );
    let finished = 0;
    const tpAgents = drainers.map((s) => new SimAgent({ ...s, server: url, maxJobs: 8, onFinished: () => finished++ }));
    agents.push(...tpAgents);
    sampler = sample();
    const tpStart = performance.now();
    for (const a of tpAgents) a.connectWs();
    await waitFor('backlog drained', async () => (await db.query(`SELECT count(*)::int AS n FROM tasks WHERE name LIKE 'tp-%' AND state = 'succeeded'`)).rows[0].n >= SIZES.throughputTasks, 240_000, 200);
    const tpSeconds = (performance.now() - tpStart) / 1000;
    clearInterval(sampler);
    if (process.argv.includes('--verbose')) showWaits('throughput');
    for (const a of agents.splice(0)) a.stop();

    // 3. Idle: many connected agents doing nothing, on a freshly started node.
    await server!.stop();
    await start();
    await waitFor('node settled', async () => (await fetch(`${url}/readyz`)).ok, 30_000);
    const rssBefore = rssBytes(server!.child.pid!);
    say(`idle: connecting ${SIZES.idle} WebSocket agents`);
    const idleAgents = seeded.slice(0, SIZES.idle).map((s) => new SimAgent({ ...s, server: url, maxJobs: 1 }));
    agents.push(...idleAgents);
    for (const a of idleAgents) a.connectWs();
    const progress = setInterval(() => say(`  ${idleAgents.filter((a) => a.connected).length} connected`), 10_000);
    await waitFor('idle agents connected', () => idleAgents.every((a) => a.connected), 180_000, 200).finally(() => clearInterval(progress));
    await new Promise((r) => setTimeout(r, 3000)); // let the connect burst's garbage go
    const rssAfter = rssBytes(server!.child.pid!);
    // The node counts the statements it sends; PostgreSQL's own counters lag by seconds.
    const queries = async () => Number(/^corral_db_queries_total (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text())![1]);
    const windowMs = quick ? 10_000 : 30_000;
    const before = await queries();
    await new Promise((r) => setTimeout(r, windowMs));
    // Reading /metrics costs one statement itself (the queue gauges).
    const idleQueries = Math.max(0, (await queries()) - before - 1) * (60_000 / windowMs);

    // 4. Reconnect: the node restarts under all of them.
    say(`reconnect: restarting the node under ${SIZES.idle} agents`);
    await server!.stop();
    await waitFor('agents noticed', () => idleAgents.every((a) => !a.connected), 30_000);
    const restartAt = performance.now();
    await start();
    await waitFor('agents back', () => idleAgents.every((a) => a.connected), 300_000, 200);
    const reconnectSeconds = (performance.now() - restartAt) / 1000;
    for (const a of agents.splice(0)) a.stop();

    const result = {
      dispatchLatencyMs: { websocket: percentiles(latency.websocket), longPoll: percentiles(latency.longPoll) },
      throughputJobsPerSec: Math.round(SIZES.throughputTasks / tpSeconds),
      idle: { agents: SIZES.idle, rssBytesPerAgent: Math.round(Math.max(0, rssAfter - rssBefore) / SIZES.idle), dbQueriesPerMinute: Math.round(idleQueries) },
      reconnect: { agents: SIZES.idle, seconds: Math.round(reconnectSeconds * 10) / 10 },
    };
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else printTable(result);
  } finally {
    for (const a of agents) a.stop();
    await server?.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function printTable(r: {
  dispatchLatencyMs: Record<string, { p50: number | null; p95: number | null; p99: number | null; n: number }>;
  throughputJobsPerSec: number;
  idle: { agents: number; rssBytesPerAgent: number; dbQueriesPerMinute: number };
  reconnect: { agents: number; seconds: number };
}) {
  const rows: [string, string, string][] = [
    ['dispatch, WebSocket (p50 / p95 / p99)', `${r.dispatchLatencyMs.websocket.p50} / ${r.dispatchLatencyMs.websocket.p95} / ${r.dispatchLatencyMs.websocket.p99} ms`, 'p99 ≤ 15 ms'],
    ['dispatch, long-poll (p50 / p95 / p99)', `${r.dispatchLatencyMs.longPoll.p50} / ${r.dispatchLatencyMs.longPoll.p95} / ${r.dispatchLatencyMs.longPoll.p99} ms`, 'p99 ≤ 50 ms'],
    ['throughput, end to end', `${r.throughputJobsPerSec} jobs/s`, '≥ 5,000 jobs/s'],
    [`idle memory (${r.idle.agents} agents)`, `${(r.idle.rssBytesPerAgent / 1024).toFixed(1)} KiB per agent`, '≤ 16 KiB'],
    ['idle database queries', `${r.idle.dbQueriesPerMinute} per minute`, 'near zero'],
    [`reconnect after restart (${r.reconnect.agents} agents)`, `${r.reconnect.seconds} s`, '≤ 60 s'],
  ];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length), ['measure', 'result', 'goal'][i].length));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  process.stdout.write(`\n${line(['measure', 'result', 'goal'])}\n|${w.map((n) => '-'.repeat(n + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
