import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { withDatabase } from '../src/database/database-url';
import { EmbeddedPostgres } from '../src/database/embedded-postgres';
import { fingerprintOf, generateAgentKeyPair, privateKeyFromPem, verificationCodeOf } from '../src/protocol/identity';
import { MAIN, NODE_FLAGS, waitFor } from '../test/helpers/control-plane-process';
import type { BenchOptions } from './options';
import { parsePrometheusText, type PrometheusMetrics } from './prometheus';
import { post, SimAgent } from './sim-agent';

export interface Seeded {
  id: string;
  privateKey: ReturnType<typeof privateKeyFromPem>;
}

export interface SeededOrganization {
  id: string;
  apiKey: string;
  agents: Seeded[];
}

export interface Node {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

export interface GcPauses {
  count: number;
  seconds: number;
}

export interface BenchDatabase {
  /** The PostgreSQL server's URL, its password masked. */
  server: string;
  embedded: boolean;
  /** The benchmark's own database on it, created empty. */
  url: string;
  stop(): Promise<void>;
}

/** An embedded PostgreSQL (or the server BENCH_DATABASE_URL names) with an empty corral_bench database. */
export async function startDatabase(): Promise<BenchDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'corral-bench-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as "postgres" and must reach it
  const postgres = process.env.BENCH_DATABASE_URL ? undefined : new EmbeddedPostgres({ dataDir });
  const running = postgres ? await postgres.start() : undefined;
  const serverUrl = running ? (running.socketUrl ?? running.url) : process.env.BENCH_DATABASE_URL!;
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS corral_bench WITH (FORCE)');
  await admin.query('CREATE DATABASE corral_bench');
  await admin.end();
  return {
    server: serverUrl.replace(/:[^:@/]*@/, ':***@'),
    embedded: postgres !== undefined,
    url: withDatabase(serverUrl, 'corral_bench'),
    stop: async () => {
      await postgres?.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Everything the phases share: the database, the one node (on a fixed port, so agents find it again after a restart), the seeded agents. */
export class Bench {
  node: Node | undefined;
  readonly agents: SimAgent[] = [];
  seeded: Seeded[] = [];
  orgId = '';
  apiKey = '';
  private readonly waits = new Map<string, number>();
  private fleetConnected: Promise<SimAgent[]> | undefined;
  // One master key for the run: a restarted node must open what the first one sealed.
  private readonly secretsKey = process.env.CORRAL_SECRETS_KEY || randomBytes(32).toString('base64');

  constructor(
    readonly db: Client,
    readonly dbUrl: string,
    readonly port: number,
    readonly options: BenchOptions,
  ) {}

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A line of progress; with --json, nothing but the JSON goes to stdout. */
  say(line: string) {
    if (!this.options.json) process.stdout.write(`${line}\n`);
  }

  /** Starts the node; `env` adds to (or overrides) the environment it inherits. */
  async start(env: Record<string, string> = {}): Promise<Node> {
    const child = spawn(process.execPath, [...NODE_FLAGS, ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), MAIN], {
      env: { ...process.env, ...env, DATABASE_URL: this.dbUrl, PORT: String(this.port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', CORRAL_SECRETS_KEY: this.secretsKey },
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
    this.fleetConnected = undefined;
  }

  /**
   * The first options.sizes.idle seeded agents on WebSocket, shared by the phases that use the
   * fleet: connected on first use, and reconnecting on their own when the node restarts.
   */
  fleet(): Promise<SimAgent[]> {
    this.fleetConnected ??= this.connectAll(this.seeded.slice(0, this.options.sizes.idle).map((s) => new SimAgent({ ...s, server: this.url, maxJobs: 1 })));
    return this.fleetConnected;
  }

  private async connectAll(agents: SimAgent[]): Promise<SimAgent[]> {
    this.agents.push(...agents);
    for (const a of agents) a.connectWs();
    const progress = setInterval(() => this.say(`  ${agents.filter((a) => a.connected).length} connected`), 10_000);
    await waitFor('agents connected', () => agents.every((a) => a.connected), 300_000, 100).finally(() => clearInterval(progress));
    return agents;
  }

  /** The bench's organisation, its API key, and approved agents (seeded in SQL: enrolling 10,000 by hand measures nothing here). */
  async seed(total: number) {
    const org = await this.organization('Bench', 'bench@example.test', total);
    this.orgId = org.id;
    this.apiKey = org.apiKey;
    this.seeded = org.agents;
  }

  /** Another organisation with its own API key and `total` approved agents. */
  async organization(name: string, email: string, total: number): Promise<SeededOrganization> {
    const url = this.url;
    const signup = await fetch(`${url}/api/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: name, email, password: 'bench bench bench' }),
    });
    const cookie = signup.headers.get('set-cookie')!.split(';')[0];
    const id = ((await signup.json()) as { organization: { id: string } }).organization.id;
    const key = await fetch(`${url}/api/v1/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, origin: url }, body: JSON.stringify({ name: 'bench' }) });
    const apiKey = ((await key.json()) as { key: string }).key;
    this.say(`seeding ${total} approved agents of ${name}`);
    const agents: Seeded[] = [];
    for (let i = 0; i < total; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, total - i) }, () => generateAgentKeyPair());
      const rows = await this.db.query<{ id: string }>(
        `INSERT INTO agents (organization_id, name, hostname, os, arch, agent_version, public_key, fingerprint, verification_code, status, decided_by_label, decided_at)
         SELECT $1, 'bench-' || n, 'bench', 'linux', 'x64', 'bench', pk, fp, vc, 'approved', 'bench', now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::int[]) AS u(pk, fp, vc, n) RETURNING id`,
        [id, batch.map((k) => k.publicKey), batch.map((k) => fingerprintOf(k.publicKey)), batch.map((k) => verificationCodeOf(k.publicKey)), batch.map((_, j) => i + j)],
      );
      rows.rows.forEach((r, j) => agents.push({ id: r.id, privateKey: privateKeyFromPem(batch[j].privateKeyPem) }));
    }
    // As autovacuum would within a minute of so many enrollments: the planner sees the agents that are there.
    await this.db.query('ANALYZE agents');
    return { id, apiKey, agents };
  }

  /** `count` queued one-job script tasks of the bench's organisation named `prefix-n`, spread over `agentIds`, inserted as the API stores them. */
  async backlog(prefix: string, count: number, agentIds: string[]) {
    await this.db.query(
      // As the API stores a script task: the script in the task's spec and in each job's payload.
      `WITH t AS (
         INSERT INTO tasks (organization_id, name, kind, state, spec, timeout_seconds, created_by_label)
         SELECT $1, $5 || '-' || n, 'script', 'queued', '{"script": {"syntax": "sh", "body": "true"}}', 60, 'bench' FROM generate_series(1, $2) AS n RETURNING id, name)
       INSERT INTO jobs (task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, state, ready, queued_at)
       SELECT t.id, $1, ($3::uuid[])[1 + (substr(t.name, length($5) + 2)::int % $4)], t.name, 60, 'script', '{"payloadVersion": 1, "script": {"syntax": "sh", "body": "true"}}', 'queued', true, now() FROM t`,
      [this.orgId, count, agentIds, agentIds.length, prefix],
    );
    await this.db.query('VACUUM ANALYZE jobs, tasks');
  }

  /** Creates a task through the API, as the bench's organisation or with another organisation's key. */
  createTask(body: unknown, apiKey = this.apiKey) {
    return post(`${this.url}/api/v1/tasks`, { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, JSON.stringify(body));
  }

  /** The node's /metrics, parsed. */
  async metrics(): Promise<PrometheusMetrics> {
    return parsePrometheusText(await (await fetch(`${this.url}/metrics`)).text());
  }

  /** Statements the node has sent, by name (unnamed ones under "queries"). */
  async statementCounts(): Promise<Map<string, number>> {
    const metrics = await this.metrics();
    const counts = new Map<string, number>();
    for (const s of metrics.samples('corral_db_statement_duration_seconds_count')) counts.set(s.labels.statement, s.value);
    const total = metrics.value('corral_db_queries_total') ?? 0;
    counts.set('queries', total - [...counts.values()].reduce((a, b) => a + b, 0));
    return counts;
  }

  /** The node's garbage collections by kind: how many, and their pauses in seconds. */
  async gcPauses(): Promise<Map<string, GcPauses>> {
    const metrics = await this.metrics();
    const pauses = new Map<string, GcPauses>();
    const of = (kind: string) => pauses.get(kind) ?? pauses.set(kind, { count: 0, seconds: 0 }).get(kind)!;
    for (const s of metrics.samples('corral_nodejs_gc_duration_seconds_sum')) of(s.labels.kind).seconds = s.value;
    for (const s of metrics.samples('corral_nodejs_gc_duration_seconds_count')) of(s.labels.kind).count = s.value;
    return pauses;
  }

  /** With --verbose, samples where the node's database connections are every 100 ms. */
  sampleWaits(): () => void {
    if (!this.options.verbose) return () => undefined;
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
    if (!this.options.verbose) return;
    this.say(`where database connections were during ${phase} (samples every 100 ms):`);
    this.say(
      [...this.waits]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([k, n]) => `${String(n).padStart(5)} ${k}`)
        .join('\n'),
    );
    this.waits.clear();
  }
}
