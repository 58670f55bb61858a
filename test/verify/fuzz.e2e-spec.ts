import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import type { z } from 'zod';
import { ProcessInputSchema } from '../../src/deployments/process.schema';
import { ENROLLMENT_SIGNER, generateAgentKeyPair, privateKeyFromPem, signRequest } from '../../src/protocol/identity';
import { AGENT_PATHS, AgentMessagesRequestSchema, AgentSessionMessageSchema, CLOSE_CODES, EnrollRequestSchema, PollRequestSchema, type ServerMessage } from '../../src/protocol/messages';
import { VariableSetInputSchema, VariableSetUpdateSchema, VariablesInputSchema } from '../../src/variables/variables.schema';
import { ROOT, waitFor } from '../helpers/control-plane-process';
import { heapUsedAfterGc, inspectorUrl } from '../helpers/inspector';
import { makeApiKey, makeApprovedAgent, makeMember, PASSWORD, type SignedUp, signUp, uniqueEmail } from '../helpers/factories';
import { dtoArbitrary, garbageBody, type IdPool, idArbitrary, isDto, mutated, queryArbitrary, routeBodies, type WireBody, zodArbitrary } from '../helpers/fuzz-arbitraries';
import WebSocket from 'ws';
import { AgentSocket, ProtocolAgent } from '../helpers/protocol-agent';
import { type Route, routeTable } from '../helpers/route-table';
import { startTestApp, type TestApp } from '../helpers/test-app';

// The fuzzing part of the verify suite (issue 17). Every JSON route gets bodies built from its
// own validation schema (its @Body() DTO's class-validator metadata, or the zod schema of a route
// that validates `unknown` itself), then mutated (wrong types, nulls, huge strings and numbers,
// NUL and unassigned Unicode, deep nesting, 10 MB bodies, duplicated keys), and every agent
// protocol message the same over a real WebSocket and over long-poll. Against one real
// control-plane process. Pass: no 5xx, no crash, no request over one second, memory back to
// baseline. The number of cases run is printed and written to verify-results/fuzz.json.
//
// Short form (CI, part of the normal e2e run): VERIFY_RUNS cases per route (default 25).
// Long form: `npm run verify -- --long` or VERIFY_LONG=1 (default 400 per route). VERIFY_SEED
// replays a run.

const LONG = process.env.VERIFY_LONG === '1';
const RUNS = Number(process.env.VERIFY_RUNS ?? (LONG ? 400 : 25));
const SEED = Number(process.env.VERIFY_SEED ?? Date.now() % 2 ** 31);
/** The agents' own routes are the long-poll transport: they get more cases. */
const AGENT_ROUTE_FACTOR = 4;
/** WebSocket cases: frames sent on an authenticated socket, or hellos of new ones. */
const WS_RUNS = RUNS * 12;
/** No single request may take longer (client-side, until the whole answer arrived). */
const MAX_MS = 1000;
/**
 * Memory back to baseline: what the V8 heap holds after a full collection (read through the
 * node's inspector) within this margin of before the fuzzing. Its caches (sessions, rate-limit
 * buckets of the fuzzer's keys, prepared statements) fill a little; a leak per case would not fit.
 */
const HEAP_MARGIN_BYTES = 16 * 1024 * 1024;
/**
 * The RSS is reported, and bounded only at its peak: the allocator and V8 keep what the 10 MB
 * bodies made them reserve long after (measured: ~220 MiB before, ~360 MiB after, with the heap
 * back within a few MiB), so it is no measure of a leak.
 */
const RSS_PEAK_BOUND_BYTES = 1024 * 1024 * 1024;
/** Cases per route before the baseline is measured (not counted in the totals). */
const WARM_UP_RUNS = 3;
const RESULTS = join(ROOT, 'verify-results', 'fuzz.json');
const METRICS_TOKEN = `verify-${process.pid}`;
/** Progress, line by line, for following a long run (`tail -f`). */
const PROGRESS = join(ROOT, 'verify-results', 'fuzz.progress.log');
mkdirSync(join(ROOT, 'verify-results'), { recursive: true });
writeFileSync(PROGRESS, '');
const progress = (line: string) => appendFileSync(PROGRESS, `${new Date().toISOString()} ${line}\n`);

// ------------------------------------------------------------------------------------------------
// Sending: node:http, so bodies are sent byte for byte (Content-Length, chunked, 10 MB)
// ------------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  ms: number;
  text: string;
  /** The request got no answer (connection reset, timeout). */
  error?: string;
}

function request(base: string, method: string, path: string, headers: Record<string, string>, body?: WireBody, timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve) => {
    const started = performance.now();
    const data = body === undefined ? undefined : Buffer.isBuffer(body.text) ? body.text : Buffer.from(body.text);
    const all: Record<string, string> = { ...headers };
    if (body) {
      all['content-type'] = body.contentType ?? 'application/json';
      if (body.chunked) all['transfer-encoding'] = 'chunked';
      else all['content-length'] = String(data!.length);
    }
    let done = false;
    const finish = (a: Omit<Answer, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...a, ms: performance.now() - started });
      req.destroy();
    };
    const req = http.request(base + path, { method, headers: all, agent: false }, (res) => {
      // A server-sent event stream is answered by its headers alone.
      if (res.headers['content-type']?.includes('text/event-stream')) return finish({ status: res.statusCode ?? 0, text: '' });
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', (err) => finish({ status: res.statusCode ?? 0, text: '', error: err.message }));
    });
    const timer = setTimeout(() => finish({ status: 0, text: '', error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    // Once the answer is in, the rest of an upload (a refused 10 MB body) may fail to send: that is fine.
    req.on('error', (err) => finish({ status: 0, text: '', error: err.message }));
    if (!data) return void req.end();
    if (!body!.chunked) return void req.end(data);
    let at = 0;
    const pump = () => {
      while (at < data.length && !done) {
        const ok = req.write(data.subarray(at, at + 64 * 1024));
        at += 64 * 1024;
        if (!ok) return void req.once('drain', pump);
      }
      if (!done) req.end();
    };
    pump();
  });
}

const codeOf = (text: string) => {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
};

// ------------------------------------------------------------------------------------------------
// Fixtures: an organisation with one of everything, and agents for each transport
// ------------------------------------------------------------------------------------------------

interface Fixtures {
  owner: SignedUp;
  /** A second session of the owner's, for POST /auth/logout (which ends the caller's session). */
  logoutSession: SignedUp['client'];
  /** Real ids by the path segment before `:id`. */
  idsFor: Record<string, string[]>;
  pool: IdPool;
  enrollmentToken: string;
  /** Signs the agents' HTTP routes (the long-poll transport). */
  pollAgent: ProtocolAgent;
  /** Speaks over the WebSocket. */
  wsAgent: ProtocolAgent;
}

async function created(what: string, res: Promise<{ status: number; text: string; body: any }>, status = 201): Promise<any> {
  const r = await res;
  if (r.status !== status) throw new Error(`creating ${what}: ${r.status} ${r.text}`);
  return r.body;
}

const hex = () => Math.random().toString(16).slice(2, 8);

async function makeFixtures(app: TestApp): Promise<Fixtures> {
  const owner = await signUp(app, `Fuzz ${hex()}`);
  const c = owner.client;
  const logoutSession = app.client();
  await created('second session', logoutSession.post('/api/v1/auth/login', { email: owner.email, password: PASSWORD }), 200);
  const viewer = await makeMember(app, owner, 'viewer');
  const key = await makeApiKey(app, owner, 'viewer');
  const environment = await created('environment', c.post('/api/v1/environments', { name: `Env-${hex()}` }));
  const lifecycle = await created('lifecycle', c.post('/api/v1/lifecycles', { name: `Lifecycle-${hex()}`, phases: [{ name: 'Only', environments: [environment.id] }] }));
  const project = await created('project', c.post('/api/v1/projects', { name: `Project-${hex()}`, lifecycleId: lifecycle.id }));
  const steps = [{ name: 'build', kind: 'script', script: { syntax: 'sh', body: 'true' }, targetRoles: ['nobody-has-this-role'] }];
  await created('process', c.put(`/api/v1/projects/${project.id}/process`, { steps }), 200);
  const variableSet = await created('variable set', c.post('/api/v1/variable-sets', { name: `Set-${hex()}` }));
  const release = await created('release', c.post(`/api/v1/projects/${project.id}/releases`, {}));
  const deployment = await created('deployment', c.post(`/api/v1/releases/${release.id}/deployments`, { environment: environment.id }));
  const token = await created('enrollment token', c.post('/api/v1/enrollment-tokens', { maxUses: 10_000 }));
  const httpAgent = await makeApprovedAgent(app, owner);
  const pollAgent = await makeApprovedAgent(app, owner);
  const wsAgent = await makeApprovedAgent(app, owner);
  const pending = new ProtocolAgent(app.url);
  await created('pending agent', pending.enroll(token.token));
  const task = await created('task', c.post('/api/v1/tasks', { targets: { agentIds: [httpAgent.agentId] }, script: { syntax: 'sh', body: 'true' } }));
  const invitation = await created('invitation', c.post('/api/v1/members', { email: uniqueEmail('invited'), role: 'viewer' }));
  const idsFor: Record<string, string[]> = {
    members: [viewer.membershipId],
    'api-keys': [key.id],
    invitations: [invitation.invitation.id],
    agents: [httpAgent.agentId, pending.agentId],
    'enrollment-tokens': [token.id],
    tasks: [task.id],
    environments: [environment.id],
    lifecycles: [lifecycle.id, 'default'],
    projects: [project.id],
    releases: [release.id],
    deployments: [deployment.id],
    'variable-sets': [variableSet.id],
    nodes: [],
    interruptions: [],
  };
  const pool = { ids: [environment.id, lifecycle.id, project.id, release.id, deployment.id, variableSet.id, httpAgent.agentId, pending.agentId, task.id, viewer.membershipId] };
  return { owner, logoutSession, idsFor, pool, enrollmentToken: token.token, pollAgent, wsAgent };
}

// ------------------------------------------------------------------------------------------------
// Findings and the record of what ran
// ------------------------------------------------------------------------------------------------

interface Finding {
  where: string;
  input: string;
  got: string;
}

const summary = {
  seed: SEED,
  form: LONG ? 'long' : 'short',
  runsPerRoute: RUNS,
  routes: {} as Record<string, { cases: number; statuses: Record<string, number>; schema: string }>,
  websocket: { cases: 0, closes: {} as Record<string, number>, replies: {} as Record<string, number> },
  totalCases: 0,
  slowest: { ms: 0, where: '' },
  heldPolls: 0,
  warmUpCases: 0,
  rss: { baselineBytes: 0, peakBytes: 0, afterBytes: 0, peakBoundBytes: RSS_PEAK_BOUND_BYTES },
  /** The V8 heap after a full collection: what the node still references. */
  heapUsedAfterGc: { baselineBytes: 0, afterBytes: 0, marginBytes: HEAP_MARGIN_BYTES },
  findings: [] as Finding[],
  durationMs: 0,
};

const describeInput = (b: WireBody | undefined, path: string) => {
  const text = b === undefined ? '' : Buffer.isBuffer(b.text) ? `<${b.text.length} bytes>` : b.text.length > 300 ? `${b.text.slice(0, 300)}… (${b.text.length} chars)` : b.text;
  return `${path} ${b ? `[${b.label}] ${text}` : '(no body)'}`;
};

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

// ------------------------------------------------------------------------------------------------
// What each route's bodies are built from
// ------------------------------------------------------------------------------------------------

/** Routes whose handler takes `unknown` and validates it with a zod schema. */
const ZOD_BODIES: Record<string, z.ZodType> = {
  'POST /api/agent/v1/enroll': EnrollRequestSchema,
  'POST /api/agent/v1/poll': PollRequestSchema,
  'POST /api/agent/v1/messages': AgentMessagesRequestSchema,
  'POST /api/v1/variable-sets': VariableSetInputSchema,
  'PATCH /api/v1/variable-sets/:id': VariableSetUpdateSchema,
  'PUT /api/v1/variable-sets/:id/variables': VariablesInputSchema,
  'PUT /api/v1/projects/:id/variables': VariablesInputSchema,
  'PUT /api/v1/projects/:id/process': ProcessInputSchema,
};
const HAS_BODY = new Set(['POST', 'PUT', 'PATCH']);
const AGENT_API = '/api/agent/';

function bodySchemaOf(route: Route, pool: IdPool): { arb: fc.Arbitrary<unknown>; schema: string } | undefined {
  if (!HAS_BODY.has(route.method)) return undefined;
  if (route.key === 'POST /api/agent/v1/enroll') {
    // The key the request is signed with, and now and then a real token: so a valid body enrolls.
    const arb = fc
      .tuple(zodArbitrary(EnrollRequestSchema, pool), fc.boolean())
      .map(([body, real]) => ({ ...(body as object), publicKey: enrollKey.publicKey, ...(real ? { token: enrollmentToken.value } : {}) }));
    return { arb, schema: 'zod' };
  }
  if (ZOD_BODIES[route.key]) return { arb: zodArbitrary(ZOD_BODIES[route.key], pool), schema: 'zod' };
  if (isDto(route.bodyType)) return { arb: dtoArbitrary(route.bodyType, pool), schema: `class-validator ${route.bodyType.name}` };
  // A POST that reads no body (cancel, logout): it still must survive one.
  return { arb: fc.constant({}), schema: 'none (no body read)' };
}

interface Case {
  params: Record<string, string>;
  query: string;
  body: WireBody | undefined;
  anonymous: boolean;
}

function caseArbitrary(route: Route, fx: Fixtures): { arb: fc.Arbitrary<Case>; schema: string } {
  const params: Record<string, fc.Arbitrary<string>> = {};
  for (const [, segment, name] of route.path.matchAll(/([\w-]+)\/:(\w+)/g)) params[name] = idArbitrary(fx.idsFor[segment] ?? []);
  const query = route.method === 'GET' ? queryArbitrary(isDto(route.queryType) ? dtoArbitrary(route.queryType, fx.pool) : undefined) : fc.constant('');
  const body = bodySchemaOf(route, fx.pool);
  const arb = fc.record({
    params: fc.record(params),
    query,
    body: body ? routeBodies(body.arb) : fc.constant(undefined),
    anonymous: fc.nat({ max: 5 }).map((n) => n === 0),
  });
  return { arb, schema: body?.schema ?? 'no body' };
}

function headersFor(route: Route, fx: Fixtures, c: Case, path: string): Record<string, string> {
  if (c.anonymous) return {};
  if (route.path.startsWith(AGENT_API)) {
    const text = c.body === undefined ? '' : c.body.text.toString();
    if (route.key === 'POST /api/agent/v1/enroll') {
      // Signed by the key the body presents (when it presents one of ours).
      return signRequest({ method: route.method, path, body: text, agentId: ENROLLMENT_SIGNER }, enrollKey.privateKey);
    }
    return signRequest({ method: route.method, path, body: text, agentId: fx.pollAgent.agentId }, privateKeyFromPem(fx.pollAgent.keys.privateKeyPem));
  }
  const client = route.key === 'POST /api/v1/auth/logout' ? fx.logoutSession : fx.owner.client;
  return { cookie: client.cookieHeader() };
}

const enrollmentToken = { value: '' };
const enrollKeys = generateAgentKeyPair();
const enrollKey = { publicKey: enrollKeys.publicKey, privateKey: privateKeyFromPem(enrollKeys.privateKeyPem) };

/** A valid poll that finds nothing new is held (up to LONG_POLL_HOLD_MS) by design. */
function heldByDesign(route: Route, c: Case): boolean {
  if (route.key !== 'POST /api/agent/v1/poll' || c.anonymous || !c.body || Buffer.isBuffer(c.body.text)) return false;
  try {
    const parsed = PollRequestSchema.safeParse(JSON.parse(c.body.text));
    return parsed.success && parsed.data.knownStatus === 'approved';
  } catch {
    return false;
  }
}

/** What is wrong with one answer, or null. */
function judge(a: Answer, body: WireBody | undefined): string | null {
  if (a.error) return `no answer (${a.error})`;
  if (a.status >= 500) return `${a.status} ${codeOf(a.text) ?? ''} ${a.text.slice(0, 300)}`.trim();
  if (a.ms > MAX_MS) return `answered ${a.status} after ${Math.round(a.ms)} ms (over ${MAX_MS} ms)`;
  if (body?.label.startsWith('10 MB') && a.status !== 413) return `a 10 MB body got ${a.status}, not 413`;
  return null;
}

// ------------------------------------------------------------------------------------------------

describe('verify: fuzzing every route and agent message (issue 17)', () => {
  let app: TestApp;
  let fx: Fixtures;
  let routes: Route[];
  let exitedWith: number | null | undefined;
  const started = Date.now();

  const alive = () => {
    if (exitedWith !== undefined) throw new Error(`the control plane exited (${exitedWith}) during the fuzzing:\n${app.logs().slice(-4000)}`);
  };
  const record = (where: string, ms: number) => {
    if (ms > summary.slowest.ms) summary.slowest = { ms: Math.round(ms), where };
  };

  beforeAll(async () => {
    routes = await routeTable();
    app = await startTestApp({
      AUTH_RATE_LIMIT_PER_IP: '1000000',
      AUTH_RATE_LIMIT_PER_ACCOUNT: '1000000',
      ORG_API_REQUESTS_PER_SECOND: '1000000',
      API_REQUESTS_PER_SECOND_PER_IP: '1000000',
      AGENT_CONNECTS_PER_SECOND: '100000',
      METRICS_TOKEN,
      // The node's own debug lines would be most of its output; errors and warnings are what count.
      LOG_LEVEL: 'info',
      // Its inspector, on loopback, for reading the heap after a full collection.
      NODE_OPTIONS: '--inspect=127.0.0.1:0',
    });
    void app.process.exited.then((code) => (exitedWith = code));
    progress('node started');
    fx = await makeFixtures(app);
    progress('fixtures made');
    enrollmentToken.value = fx.enrollmentToken;
  }, 120_000);

  afterAll(async () => {
    summary.durationMs = Date.now() - started;
    summary.totalCases = Object.values(summary.routes).reduce((n, r) => n + r.cases, 0) + summary.websocket.cases;
    mkdirSync(join(ROOT, 'verify-results'), { recursive: true });
    writeFileSync(RESULTS, JSON.stringify(summary, null, 2) + '\n');
    const lines = [
      `verify/fuzz (${summary.form} form, seed ${SEED}): ${summary.totalCases} cases in ${(summary.durationMs / 1000).toFixed(1)} s`,
      `  HTTP: ${summary.totalCases - summary.websocket.cases} cases over ${Object.keys(summary.routes).length} routes (${summary.heldPolls} valid polls held by design), after ${summary.warmUpCases} warm-up cases`,
      `  WebSocket: ${summary.websocket.cases} cases; closes ${JSON.stringify(summary.websocket.closes)}`,
      `  slowest: ${summary.slowest.ms} ms (${summary.slowest.where})`,
      `  RSS: baseline ${(summary.rss.baselineBytes / 2 ** 20).toFixed(0)} MiB, peak ${(summary.rss.peakBytes / 2 ** 20).toFixed(0)} MiB, after ${(summary.rss.afterBytes / 2 ** 20).toFixed(0)} MiB; V8 heap after a full GC ${(summary.heapUsedAfterGc.baselineBytes / 2 ** 20).toFixed(1)} -> ${(summary.heapUsedAfterGc.afterBytes / 2 ** 20).toFixed(1)} MiB`,
      `  findings: ${summary.findings.length}; written to ${RESULTS}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await app?.close();
  });

  it('measures the baseline memory of the warmed-up node', async () => {
    // Warm-up: WARM_UP_RUNS cases of every route that destroys nothing, so that what a node
    // builds once (JIT code, connection pools, the allocator's arenas after the first password
    // hashes) is in the baseline, and what stays after the fuzzing is what the fuzzing left.
    const warmUp = routes.filter((r) => r.method !== 'WS' && order(r) === 0);
    const findings = await fuzzRoutes(warmUp, WARM_UP_RUNS, SEED + 1, false);
    summary.findings.push(...findings);
    summary.rss.baselineBytes = rssOf(app.process.child.pid!);
    summary.rss.peakBytes = summary.rss.baselineBytes;
    summary.heapUsedAfterGc.baselineBytes = await heapUsedAfterGc(inspectorUrl(app.logs()));
    progress(`baseline RSS ${(summary.rss.baselineBytes / 2 ** 20).toFixed(0)} MiB after ${summary.warmUpCases} warm-up cases`);
    expect(findings).toEqual([]);
  }, 600_000);

  it('the agent WebSocket: mutated and garbage messages on a signed, approved connection', async () => {
    const findings: Finding[] = [];
    // Real jobs for this agent, so valid-looking messages reach past "no such job".
    for (let i = 0; i < 2; i++) await created('task', fx.owner.client.post('/api/v1/tasks', { targets: { agentIds: [fx.wsAgent.agentId] }, script: { syntax: 'sh', body: 'true' } }));
    let socket: AgentSocket = await openSocket(fx.wsAgent);
    // One job at a time (maxJobs 1): the second is offered once the first has ended.
    const jobIds = await waitFor('the offer of a task', () => {
      const ids = socket.messages.flatMap((m) => fx.wsAgent.offersIn(m).map((o) => o.jobId));
      return ids.length ? ids : undefined;
    });
    const pool: IdPool = { ids: [...jobIds, ...fx.pool.ids] };
    const message = zodArbitrary(AgentSessionMessageSchema, pool);
    const hello = fc.record({ ...Object.fromEntries(Object.entries(fx.wsAgent.hello()).map(([k, v]) => [k, fc.constant(v)])) });
    const big = 'x'.repeat(1024 * 1024 + 10);
    type WsCase = { kind: 'frame' | 'hello'; frame: WireBody; binary: boolean };
    const wsCase: fc.Arbitrary<WsCase> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('frame' as const), frame: mutated(message), binary: fc.constant(false) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('frame' as const), frame: mutated(fc.array(message, { minLength: 1, maxLength: 6 })), binary: fc.constant(false) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('frame' as const), frame: garbageBody.filter((g) => !g.label.startsWith('10 MB')), binary: fc.boolean() }) },
      { weight: 1, arbitrary: fc.constant<WsCase>({ kind: 'frame', frame: { label: 'frame over maxPayload', text: `"${big}"` }, binary: false }) },
      // The first message of a new connection: a mutated hello.
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('hello' as const), frame: mutated(fc.oneof(hello, zodArbitrary(PollRequestSchema, pool))), binary: fc.constant(false) }) },
    );
    let probe = 0;
    const result = await fc.check(
      fc.asyncProperty(wsCase, async (c) => {
        alive();
        summary.websocket.cases++;
        const data = Buffer.isBuffer(c.frame.text) ? c.frame.text : Buffer.from(c.frame.text);
        const target = c.kind === 'hello' ? await openSocket(fx.wsAgent, false) : socket.closed ? (socket = await openSocket(fx.wsAgent)) : socket;
        const from = target.messages.length;
        const t0 = performance.now();
        target.ws.send(data, { binary: c.binary });
        // A probe after it: a heartbeat for a job nobody has, answered (server.job.gone) only once the
        // frame before it has been read. Its answer bounds how long the frame took.
        const probeId = `00000000-0000-4000-8000-${String(++probe).padStart(12, '0')}`;
        if (c.kind !== 'hello') target.send({ type: 'agent.job.heartbeat', jobs: [{ jobId: probeId, attempt: 1 }] });
        const answered = await waitFor(
          'an answer or a close',
          () =>
            target.closed ??
            target.messages.slice(from).find((m: ServerMessage) => (c.kind === 'hello' ? m.type === 'signed' || m.type === 'server.error' : m.type === 'server.job.gone' && m.jobId === probeId)),
          5000,
          5,
        ).catch(() => undefined);
        const ms = performance.now() - t0;
        record(`WS ${c.frame.label}`, ms);
        for (const m of target.messages.slice(from))
          summary.websocket.replies[m.type === 'server.error' ? `server.error ${m.code}` : m.type] =
            (summary.websocket.replies[m.type === 'server.error' ? `server.error ${m.code}` : m.type] ?? 0) + 1;
        const input = describeInput(c.frame, `WS ${c.kind}`);
        progress(`WS ${c.kind} [${c.frame.label}] ${Math.round(ms)} ms${target.closed ? ` closed ${target.closed.code}` : ''}`);
        let problem: string | null = null;
        if (!answered) problem = 'no answer and no close within 5 s';
        else if (target.closed) {
          const { code, reason } = target.closed;
          summary.websocket.closes[code] = (summary.websocket.closes[code] ?? 0) + 1;
          // Not JSON: 1007; over maxPayload: 1009; a first message that is not a hello: 4001. Anything else (1011 above all) is a fault.
          const allowed = [1007, 1009, CLOSE_CODES.unauthenticated];
          if (!allowed.includes(code)) problem = `the server closed the socket with ${code} ${reason}`;
          else if (code === CLOSE_CODES.unauthenticated && !/BAD_REQUEST/.test(reason)) problem = `closed with ${code} ${reason}`;
        } else if (ms > MAX_MS) problem = `answered after ${Math.round(ms)} ms (over ${MAX_MS} ms)`;
        if (c.kind === 'hello') target.close();
        if (problem) findings.push({ where: 'WS /api/agent/v1/ws', input, got: problem });
        return problem === null;
      }),
      { numRuns: WS_RUNS, seed: SEED, endOnFailure: true },
    );
    socket.close();
    progress(`WS done: RSS ${(rssOf(app.process.child.pid!) / 2 ** 20).toFixed(0)} MiB`);
    summary.findings.push(...findings);
    alive();
    expect({ findings, counterexample: result.failed ? String(result.counterexample?.[0]?.frame.label) : null }).toEqual({ findings: [], counterexample: null });
  }, 600_000);

  /** Fuzzes each of `list`, `runs` cases each (more for the agents' routes); returns what failed. */
  async function fuzzRoutes(list: Route[], runs: number, seed: number, counted: boolean): Promise<Finding[]> {
    const findings: Finding[] = [];
    for (const route of list) {
      const { arb, schema } = caseArbitrary(route, fx);
      const stats = counted ? (summary.routes[route.key] = { cases: 0, statuses: {} as Record<string, number>, schema }) : { cases: 0, statuses: {} as Record<string, number>, schema };
      const numRuns = route.path.startsWith(AGENT_API) ? runs * AGENT_ROUTE_FACTOR : runs;
      const result = await fc.check(
        fc.asyncProperty(arb, async (c) => {
          alive();
          stats.cases++;
          if (!counted) summary.warmUpCases++;
          const path = route.path.replace(/:(\w+)/g, (_, name: string) => c.params[name]) + c.query;
          const held = heldByDesign(route, c);
          const a = await request(app.url, route.method, path, headersFor(route, fx, c, path.replace(/\?.*$/, '')), c.body, held ? MAX_MS + 200 : 10_000);
          if (held && a.error) {
            summary.heldPolls++;
            return true;
          }
          const key = a.error ? 'no answer' : String(a.status);
          progress(`${route.key} [${c.body?.label ?? ''}] ${key} ${Math.round(a.ms)} ms`);
          stats.statuses[key] = (stats.statuses[key] ?? 0) + 1;
          record(`${route.key} ${c.body?.label ?? ''}`, a.ms);
          const problem = judge(a, c.body);
          if (problem) findings.push({ where: route.key, input: describeInput(c.body, `${route.method} ${path.slice(0, 200)}${c.anonymous ? ' (anonymous)' : ''}`), got: problem });
          return problem === null;
        }),
        { numRuns, seed, endOnFailure: true },
      );
      if (result.failed) alive();
      const rss = rssOf(app.process.child.pid!);
      summary.rss.peakBytes = Math.max(summary.rss.peakBytes, rss);
      progress(`${route.key}: ${stats.cases} cases, RSS ${(rss / 2 ** 20).toFixed(0)} MiB`);
    }
    return findings;
  }

  // Those that destroy the fixtures last.
  const order = (r: Route) => (r.method === 'DELETE' ? 2 : r.key.endsWith('/revoke') || r.key.endsWith('/reject') ? 1 : 0);

  it('every route: bodies from its own schema, mutated; ids real, random and garbage', async () => {
    const findings = await fuzzRoutes(
      routes.filter((r) => r.method !== 'WS').sort((a, b) => order(a) - order(b)),
      RUNS,
      SEED,
      true,
    );
    summary.findings.push(...findings);
    alive();
    expect(findings).toEqual([]);
  }, 1_200_000);

  it('the node survived: still serving, never logged an uncaught error or a 5xx', async () => {
    alive();
    const health = await request(app.url, 'GET', '/healthz', {});
    expect(health.status).toBe(200);
    const logs = app.logs();
    const bad = logs.split('\n').filter((l) => /uncaught|unhandled|"level":"(fatal|error)"/i.test(l));
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('memory comes back to its baseline: the heap after a full collection, and the RSS peak under its bound', async () => {
    summary.rss.afterBytes = rssOf(app.process.child.pid!);
    summary.heapUsedAfterGc.afterBytes = await heapUsedAfterGc(inspectorUrl(app.logs()));
    expect(summary.heapUsedAfterGc.afterBytes).toBeLessThanOrEqual(summary.heapUsedAfterGc.baselineBytes + HEAP_MARGIN_BYTES);
    expect(summary.rss.peakBytes).toBeLessThanOrEqual(RSS_PEAK_BOUND_BYTES);
  });
});

/** A signed WebSocket; with `sayHello`, the agent's hello is sent and its status awaited. */
async function openSocket(agent: ProtocolAgent, sayHello = true): Promise<AgentSocket> {
  if (sayHello) {
    const socket = await agent.connect();
    await socket.next('the status of a signed connection', (m) => m.type === 'signed');
    return socket;
  }
  const ws = new WebSocket(agent.baseUrl.replace(/^http/, 'ws') + AGENT_PATHS.ws, {
    headers: signRequest({ method: 'GET', path: AGENT_PATHS.ws, body: '', agentId: agent.agentId }, privateKeyFromPem(agent.keys.privateKeyPem)),
  });
  const socket = new AgentSocket(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return socket;
}
