// npm run bench [-- --json] [-- --quick] [-- --only=dispatch,throughput,idle,reconnect] [-- --verbose]:
// measures the control plane against simulated agents that speak the real protocol. Prints a
// table, or with --json one JSON object on the last line.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client } from 'pg';
import { withDatabase } from '../src/database/database-url';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { fingerprintOf, generateAgentKeyPair, privateKeyFromPem, verificationCodeOf } from '../src/protocol/identity';
import { MAIN, NODE_FLAGS, waitFor } from '../test/helpers/control-plane-process';
import { post, SimAgent } from './sim-agent';

const PHASES = ['dispatch', 'throughput', 'idle', 'reconnect'] as const;
type Phase = (typeof PHASES)[number];

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const verbose = process.argv.includes('--verbose');
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const only = new Set<Phase>(onlyArg ? (onlyArg.split(',') as Phase[]) : PHASES);
// --connections-only: the phases without work, as before --only existed.
if (process.argv.includes('--connections-only')) ['dispatch', 'throughput'].forEach((p) => only.delete(p as Phase));
for (const p of only) if (!PHASES.includes(p)) throw new Error(`--only takes ${PHASES.join(', ')}; got "${p}"`);

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SIZES = quick
  ? { dispatchWs: 80, dispatchPoll: 20, rate: env('BENCH_RATE', 100), seconds: 5, throughputTasks: env('BENCH_TASKS', 2000), throughputAgents: 20, idle: env('BENCH_IDLE', 1000) }
  : { dispatchWs: 800, dispatchPoll: 200, rate: env('BENCH_RATE', 200), seconds: 15, throughputTasks: env('BENCH_TASKS', 20_000), throughputAgents: 100, idle: env('BENCH_IDLE', 10_000) };

const WARMUP_SECONDS = 3;
const say = (line: string) => !json && process.stdout.write(`${line}\n`);

interface Seeded {
  id: string;
  privateKey: ReturnType<typeof privateKeyFromPem>;
}

interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  n: number;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 100) / 100 : null);
  return { p50: at(50), p95: at(95), p99: at(99), n: sorted.length };
}

interface Node {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
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

interface GcPauses {
  count: number;
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything the phases share: the database, the one node (on a fixed port, so agents find it again after a restart), the seeded agents. */
class Bench {
  node: Node | undefined;
  readonly agents: SimAgent[] = [];
  seeded: Seeded[] = [];
  orgId = '';
  apiKey = '';
  private readonly waits = new Map<string, number>();

  constructor(
    readonly db: Client,
    readonly dbUrl: string,
    readonly port: number,
  ) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<Node> {
    const child = spawn(process.execPath, [...NODE_FLAGS, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), MAIN], {
      env: { ...process.env, DATABASE_URL: this.dbUrl, PORT: String(this.port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', LOG_FORMAT: 'json' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let dead = false;
    void exited.then(() => (dead = true));
    await waitFor(
      'the control plane to be ready',
      async () => {
        if (dead) throw new Error(`the control plane exited with ${child.exitCode}`);
        return (await fetch(`${this.url}/readyz`)).ok;
      },
      120_000,
      100,
    ).catch((err: Error) => {
      if (dead) throw new Error(`the control plane exited with ${child.exitCode} while starting`);
      throw err;
    });
    this.node = { child, url: this.url, stop: async () => void (child.kill('SIGTERM'), await exited) };
    return this.node;
  }

  async stopAgents() {
    for (const a of this.agents.splice(0)) a.stop();
  }

  /** An organisation, an API key, and approved agents (seeded in SQL: enrolling 10,000 by hand measures nothing here). */
  async seed(total: number) {
    const url = this.url;
    const signup = await fetch(`${url}/api/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: 'Bench', email: 'bench@example.test', password: 'bench bench bench' }),
    });
    const cookie = signup.headers.get('set-cookie')!.split(';')[0];
    this.orgId = ((await signup.json()) as { organization: { id: string } }).organization.id;
    const key = await fetch(`${url}/api/v1/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, origin: url }, body: JSON.stringify({ name: 'bench' }) });
    this.apiKey = ((await key.json()) as { key: string }).key;
    say(`seeding ${total} approved agents`);
    for (let i = 0; i < total; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, total - i) }, () => generateAgentKeyPair());
      const rows = await this.db.query<{ id: string }>(
        `INSERT INTO agents (organization_id, name, hostname, os, arch, agent_version, public_key, fingerprint, verification_code, status, decided_by_label, decided_at)
         SELECT $1, 'bench-' || n, 'bench', 'linux', 'x64', 'bench', pk, fp, vc, 'approved', 'bench', now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::int[]) AS u(pk, fp, vc, n) RETURNING id`,
        [this.orgId, batch.map((k) => k.publicKey), batch.map((k) => fingerprintOf(k.publicKey)), batch.map((k) => verificationCodeOf(k.publicKey)), batch.map((_, j) => i + j)],
      );
      rows.rows.forEach((r, j) => this.seeded.push({ id: r.id, privateKey: privateKeyFromPem(batch[j].privateKeyPem) }));
    }
    // As autovacuum would within a minute of so many enrollments: the planner sees the agents that are there.
    await this.db.query('ANALYZE agents');
  }

  createTask(body: unknown) {
    return post(`${this.url}/api/v1/tasks`, { 'content-type': 'application/json', authorization: `Bearer ${this.apiKey}` }, JSON.stringify(body));
  }

  /** The node's Prometheus text. */
  async metricsText(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  async metric(name: string): Promise<number> {
    const text = await this.metricsText();
    return Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  }

  /** Statements the node has sent, by name (unnamed ones under "queries"). */
  async statementCounts(): Promise<Map<string, number>> {
    const text = await this.metricsText();
    const counts = new Map<string, number>();
    for (const [, name, value] of text.matchAll(/^corral_db_statement_duration_seconds_count\{statement="([^"]+)"\} (\S+)/gm)) counts.set(name, Number(value));
    const total = Number(/^corral_db_queries_total (\S+)/m.exec(text)?.[1] ?? 0);
    counts.set('queries', total - [...counts.values()].reduce((a, b) => a + b, 0));
    return counts;
  }

  /** The node's garbage collections by kind: how many, and their pauses in seconds. */
  async gcPauses(): Promise<Map<string, GcPauses>> {
    const text = await this.metricsText();
    const pauses = new Map<string, GcPauses>();
    for (const [, part, kind, value] of text.matchAll(/^corral_process_nodejs_gc_duration_seconds_(sum|count)\{kind="([^"]+)"\} (\S+)/gm)) {
      const p = pauses.get(kind) ?? { count: 0, seconds: 0 };
      if (part === 'sum') p.seconds = Number(value);
      else p.count = Number(value);
      pauses.set(kind, p);
    }
    return pauses;
  }

  /** With --verbose, samples where the node's database connections are every 100 ms. */
  sampleWaits(): () => void {
    if (!verbose) return () => undefined;
    const timer = setInterval(() => {
      void this.db
        .query(
          `SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-') || ' ' || state || ' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS k
             FROM pg_stat_activity WHERE datname = 'corral_bench' AND pid <> pg_backend_pid()`,
        )
        .then((r) => r.rows.forEach((row: { k: string }) => this.waits.set(row.k, (this.waits.get(row.k) ?? 0) + 1)));
    }, 100);
    return () => clearInterval(timer);
  }

  showWaits(phase: string) {
    if (!verbose) return;
    say(`where database connections were during ${phase} (samples every 100 ms):`);
    say([...this.waits].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, n]) => `${String(n).padStart(5)} ${k}`).join('\n'));
    this.waits.clear();
  }
}

type Transport = 'websocket' | 'longPoll';

/**
 * Tasks created through the API at a steady rate, spread evenly over all the connected agents
 * (most on WebSocket, some long-polling, as behind proxies that refuse WebSocket), each timed
 * from the API request until its agent holds the offer.
 */
async function dispatch(bench: Bench) {
  const sent = new Map<string, number>();
  const latency: Record<Transport, number[]> = { websocket: [], longPoll: [] };
  // With --verbose: how it went second by second, and where the time goes (the offer says when the node signed it).
  const bySecond = new Map<string, number[]>();
  const parts = { post: [] as number[], toSigned: [] as number[], signedToAgent: [] as number[] };
  let begin = 0;
  const onOffer = (kind: Transport) => (offer: { name: string; issuedAt: number }, at: number) => {
    const t0 = sent.get(offer.name);
    if (t0 === undefined) return;
    latency[kind].push(at - t0);
    if (!verbose) return;
    const wall = (t: number) => performance.timeOrigin + t;
    parts.toSigned.push(offer.issuedAt - wall(t0));
    parts.signedToAgent.push(wall(at) - offer.issuedAt);
    const key = `${kind} ${String(Math.floor((t0 - begin) / 1000)).padStart(2)}`;
    bySecond.set(key, [...(bySecond.get(key) ?? []), at - t0]);
  };
  const pool = bench.seeded.slice(0, SIZES.dispatchWs + SIZES.dispatchPoll);
  const wsAgents = pool.slice(0, SIZES.dispatchWs).map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 4, onOffer: onOffer('websocket') }));
  const pollAgents = pool.slice(SIZES.dispatchWs).map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 4, onOffer: onOffer('longPoll') }));
  const everyone = [...wsAgents, ...pollAgents];
  bench.agents.push(...everyone);
  for (const a of wsAgents) a.connectWs();
  for (const a of pollAgents) void a.pollLoop();
  await waitFor('dispatch agents connected', () => everyone.every((a) => a.connected), 120_000);
  say(`dispatch: ${SIZES.rate} tasks/s for ${SIZES.seconds} s (after ${WARMUP_SECONDS} s not counted), spread over ${wsAgents.length} WebSocket and ${pollAgents.length} long-polling agents`);
  // Every agent in turn, in an order that mixes the transports.
  const targets = everyone.map((a) => a.o.id).sort(() => Math.random() - 0.5);
  const stopSampling = bench.sampleWaits();
  // The node's event-loop figures start over from here; statements are counted from here.
  const statementsBefore = verbose ? await bench.statementCounts() : new Map<string, number>();
  const gcBefore = verbose ? await bench.gcPauses() : new Map<string, GcPauses>();
  const benchLag = monitorEventLoopDelay({ resolution: 1 });
  benchLag.enable();
  // The first seconds warm the node up (code paths compiled, statements prepared on every pooled connection) and are not counted.
  const warmup = SIZES.rate * WARMUP_SECONDS;
  const n = warmup + SIZES.rate * SIZES.seconds;
  const posts: Promise<unknown>[] = [];
  begin = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = begin + (i * 1000) / SIZES.rate - performance.now();
    if (wait > 0) await sleep(wait);
    const name = `dispatch-${i}`;
    const t0 = performance.now();
    if (i >= warmup) sent.set(name, t0);
    posts.push(
      bench.createTask({ name, targets: { agentIds: [targets[i % targets.length]] }, script: { syntax: 'sh', body: 'true' } }).then(() => {
        if (i >= warmup) parts.post.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(posts);
  await waitFor('every offer', () => latency.websocket.length + latency.longPoll.length >= n - warmup, 60_000).catch(() => undefined);
  stopSampling();
  benchLag.disable();
  bench.showWaits('dispatch');
  if (verbose) {
    say(`  bench event loop delay ms: p50 ${(benchLag.percentile(50) / 1e6).toFixed(1)} p99 ${(benchLag.percentile(99) / 1e6).toFixed(1)} max ${(benchLag.max / 1e6).toFixed(1)}`);
    for (const [key, values] of [...bySecond].sort()) say(`  ${key.padEnd(12)} ${JSON.stringify(percentiles(values))}`);
    for (const [part, values] of Object.entries(parts)) say(`  ${part.padEnd(14)} ${JSON.stringify(percentiles(values))}`);
    const statements = [...(await bench.statementCounts())].map(([k, v]) => [k, v - (statementsBefore.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
    say(`  statements per task: ${statements.sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ')}`);
    // Each pause stops the node's event loop: a dispatch that meets one waits it out.
    const gc = [...(await bench.gcPauses())].map(([kind, p]) => ({ kind, count: p.count - (gcBefore.get(kind)?.count ?? 0), ms: (p.seconds - (gcBefore.get(kind)?.seconds ?? 0)) * 1000 }));
    say(`  node GC pauses: ${gc.filter((g) => g.count > 0).map((g) => `${g.kind} ${g.count} × ${(g.ms / g.count).toFixed(1)} ms`).join(', ')}`);
    const metrics = await bench.metricsText();
    say(metrics.split('\n').filter((l) => /^corral_(process_nodejs_eventloop_lag_(p99|max)|db_statement_duration_seconds_bucket\{le="0\.(01|025)",statement="(create_tasks|claim_offers|api_key_principals|task_targets)"|http_request_duration_seconds_(bucket\{le="0\.0(05|1|25)",|count\{)method="POST",route="\/api\/v1\/tasks")/.test(l)).join('\n'));
  }
  await bench.stopAgents();
  return { websocket: percentiles(latency.websocket), longPoll: percentiles(latency.longPoll) };
}

/** A backlog of one-job tasks drained by agents that finish at once: jobs completed and recorded per second. */
async function throughput(bench: Bench) {
  say(`throughput: a backlog of ${SIZES.throughputTasks} one-job tasks, drained by ${SIZES.throughputAgents} agents`);
  const drainers = bench.seeded.slice(0, SIZES.throughputAgents);
  await bench.db.query(
    `WITH t AS (
       INSERT INTO tasks (organization_id, name, kind, state, script_syntax, script_body, timeout_seconds, created_by_label)
       SELECT $1, 'tp-' || n, 'script', 'queued', 'sh', 'true', 60, 'bench' FROM generate_series(1, $2) AS n RETURNING id, name)
     INSERT INTO jobs (task_id, organization_id, agent_id, state, ready, queued_at)
     SELECT t.id, $1, ($3::uuid[])[1 + (substr(t.name, 4)::int % $4)], 'queued', true, now() FROM t`,
    [bench.orgId, SIZES.throughputTasks, drainers.map((d) => d.id), drainers.length],
  );
  await bench.db.query('VACUUM ANALYZE jobs, tasks');
  let finished = 0;
  const tpAgents = drainers.map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 8, onFinished: () => finished++ }));
  bench.agents.push(...tpAgents);
  const stopSampling = bench.sampleWaits();
  const started = performance.now();
  for (const a of tpAgents) a.connectWs();
  await waitFor('backlog drained', () => finished >= SIZES.throughputTasks, 240_000, 20);
  const seconds = (performance.now() - started) / 1000;
  stopSampling();
  bench.showWaits('throughput');
  await bench.stopAgents();
  // Every acknowledged finish is recorded: the count in the database says so.
  const recorded = (await bench.db.query(`SELECT count(*)::int AS n FROM tasks WHERE name LIKE 'tp-%' AND state = 'succeeded'`)).rows[0].n as number;
  if (recorded < SIZES.throughputTasks) throw new Error(`only ${recorded} of ${SIZES.throughputTasks} tasks are recorded as succeeded`);
  return Math.round(SIZES.throughputTasks / seconds);
}

/** Many connected agents doing nothing, on a freshly started node: memory per agent and statements per minute. */
async function idle(bench: Bench, agents: SimAgent[]) {
  await bench.node!.stop();
  await bench.start();
  // Both readings are of a node left idle long enough for V8 to give back what a burst (start-up,
  // then 10,000 connections) left behind: its memory reducer waits until its running average of
  // the allocation rate, which still counts the burst, has fallen low, most of a minute after one.
  await sleep(quick ? 5_000 : 20_000);
  const rssBefore = rssBytes(bench.node!.child.pid!);
  say(`idle: connecting ${agents.length} WebSocket agents`);
  await connectAll(bench, agents);
  // The node counts the statements it sends; PostgreSQL's own counters lag by seconds.
  const windowMs = quick ? 10_000 : 90_000;
  const before = await bench.metric('corral_db_queries_total');
  await sleep(windowMs);
  // Reading /metrics costs one statement itself (the queue gauges).
  const queries = Math.max(0, (await bench.metric('corral_db_queries_total')) - before - 1) * (60_000 / windowMs);
  // Memory as the operator sees it after that idle while, including any of the burst's garbage V8 has not given back yet.
  const rssAfter = rssBytes(bench.node!.child.pid!);
  if (verbose) {
    say(`node RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB before connecting, ${(rssAfter / 2 ** 20).toFixed(1)} MiB after the idle window`);
    const metrics = await bench.metricsText();
    say(metrics.split('\n').filter((l) => /^corral_process_(resident_memory_bytes|nodejs_heap_size_(used|total)_bytes|nodejs_external_memory_bytes|nodejs_heap_space_size_(used|total)_bytes{space="(new|old|large_object)")/.test(l)).join('\n'));
  }
  return { agents: agents.length, rssBytesPerAgent: Math.round(Math.max(0, rssAfter - rssBefore) / agents.length), dbQueriesPerMinute: Math.round(queries) };
}

async function connectAll(bench: Bench, agents: SimAgent[]) {
  for (const a of agents) a.connectWs();
  const progress = setInterval(() => say(`  ${agents.filter((a) => a.connected).length} connected`), 10_000);
  await waitFor('agents connected', () => agents.every((a) => a.connected), 300_000, 100).finally(() => clearInterval(progress));
}

/** The node restarts under all the agents: how long until every one is back. */
async function reconnect(bench: Bench, agents: SimAgent[]) {
  say(`reconnect: restarting the node under ${agents.length} agents`);
  const stopped = bench.node!.stop();
  const restartAt = performance.now();
  await stopped;
  say(`  the node stopped after ${((performance.now() - restartAt) / 1000).toFixed(1)} s`);
  await bench.start();
  say(`  the node is back after ${((performance.now() - restartAt) / 1000).toFixed(1)} s`);
  const progress = setInterval(() => say(`  ${agents.filter((a) => a.connected).length} back after ${((performance.now() - restartAt) / 1000).toFixed(0)} s`), 5000);
  await waitFor('agents back', () => agents.every((a) => a.connected), 300_000, 100).finally(() => clearInterval(progress));
  return { agents: agents.length, seconds: Math.round(((performance.now() - restartAt) / 1000) * 10) / 10 };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'corral-bench-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as "postgres" and must reach it
  // BENCH_DATABASE_URL measures against another PostgreSQL server instead of the embedded one.
  const postgres = process.env.BENCH_DATABASE_URL ? undefined : new EmbeddedPostgres({ dataDir });
  const running = postgres ? await postgres.start() : undefined;
  const pg = { url: running ? (running.socketUrl ?? running.url) : process.env.BENCH_DATABASE_URL! };
  const dbUrl = withDatabase(pg.url, 'corral_bench');
  const admin = new Client({ connectionString: pg.url });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS corral_bench WITH (FORCE)');
  await admin.query('CREATE DATABASE corral_bench');
  await admin.end();
  const db = new Client({ connectionString: dbUrl });
  const bench = new Bench(db, dbUrl, await freePort());
  const result: {
    dispatchLatencyMs: { websocket: Percentiles; longPoll: Percentiles } | null;
    throughputJobsPerSec: number | null;
    idle: { agents: number; rssBytesPerAgent: number; dbQueriesPerMinute: number } | null;
    reconnect: { agents: number; seconds: number } | null;
  } = { dispatchLatencyMs: null, throughputJobsPerSec: null, idle: null, reconnect: null };
  try {
    say(`starting a control plane on ${postgres ? 'an embedded' : 'the given'} PostgreSQL (${pg.url.replace(/:[^:@/]*@/, ':***@')})`);
    await bench.start();
    await db.connect();
    const connections = only.has('idle') || only.has('reconnect');
    await bench.seed(Math.max(connections ? SIZES.idle : 0, SIZES.dispatchWs + SIZES.dispatchPoll, SIZES.throughputAgents));

    if (only.has('dispatch')) result.dispatchLatencyMs = await dispatch(bench);
    if (only.has('throughput')) result.throughputJobsPerSec = await throughput(bench);
    if (connections) {
      const agents = bench.seeded.slice(0, SIZES.idle).map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 1 }));
      bench.agents.push(...agents);
      if (only.has('idle')) result.idle = await idle(bench, agents);
      else await connectAll(bench, agents);
      if (only.has('reconnect')) result.reconnect = await reconnect(bench, agents);
      await bench.stopAgents();
    }
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else printTable(result);
  } finally {
    await bench.stopAgents();
    await bench.node?.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function printTable(r: {
  dispatchLatencyMs: Record<'websocket' | 'longPoll', Percentiles> | null;
  throughputJobsPerSec: number | null;
  idle: { agents: number; rssBytesPerAgent: number; dbQueriesPerMinute: number } | null;
  reconnect: { agents: number; seconds: number } | null;
}) {
  const ms = (p: Percentiles | undefined) => (p ? `${p.p50} / ${p.p95} / ${p.p99} ms` : 'not run');
  const rows: [string, string, string][] = [
    ['dispatch, WebSocket (p50 / p95 / p99)', ms(r.dispatchLatencyMs?.websocket), 'p99 ≤ 15 ms'],
    ['dispatch, long-poll (p50 / p95 / p99)', ms(r.dispatchLatencyMs?.longPoll), 'p99 ≤ 50 ms'],
    ['throughput, end to end', r.throughputJobsPerSec === null ? 'not run' : `${r.throughputJobsPerSec} jobs/s`, '≥ 5,000 jobs/s'],
    [`idle memory (${r.idle?.agents ?? SIZES.idle} agents)`, r.idle ? `${(r.idle.rssBytesPerAgent / 1024).toFixed(1)} KiB per agent` : 'not run', '≤ 16 KiB'],
    ['idle database queries', r.idle ? `${r.idle.dbQueriesPerMinute} per minute` : 'not run', 'near zero'],
    [`reconnect after restart (${r.reconnect?.agents ?? SIZES.idle} agents)`, r.reconnect ? `${r.reconnect.seconds} s` : 'not run', '≤ 60 s'],
  ];
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length), ['measure', 'result', 'goal'][i].length));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  process.stdout.write(`\n${line(['measure', 'result', 'goal'])}\n|${w.map((n) => '-'.repeat(n + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
