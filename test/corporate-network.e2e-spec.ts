import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentProcess, approve, deadPort, enrollmentToken, newStateDir, removeTempDirs, runAgentCommand, spawnAgent, stopAllAgents, agentView, waitOnline } from './helpers/agent-process';
import { waitFor } from './helpers/control-plane-process';
import { differences, EDITS, escape, makePki, type Nginx, type Pki, PROXY_PASSWORD, PROXY_USER, REFERENCE_CONFIG, startNginx, startSquid, type Squid } from './helpers/corporate-network';
import { makeApiKey, PASSWORD, signUp, type SignedUp, uniqueEmail } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { startTestApp, type TestApp } from './helpers/test-app';

// The agent on a corporate network, with the real programs (test/helpers/corporate-network.ts):
// the control plane behind nginx running the reference configuration with a certificate from a
// private CA, squid as HTTPS_PROXY asking for credentials, and a reverse proxy that does not pass
// WebSocket upgrades. Everything listens on 127.0.0.1 only.

// --- the control plane's side -------------------------------------------------------------------

interface Task {
  id: string;
  state: string;
  jobs: { state: string; exitCode: number | null }[];
}

/** Runs a script on the agent and returns the ended task with its log. */
async function runJob(owner: SignedUp, agentId: string): Promise<{ task: Task; log: string; marker: string }> {
  const marker = `ran-${randomBytes(4).toString('hex')}`;
  const created = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agentId] }, script: { syntax: 'bash', body: `echo ${marker}` } });
  if (created.status !== 201) throw new Error(`task: ${created.status} ${created.text}`);
  const task = await waitFor(
    `task ${created.body.id} to end`,
    async () => {
      const res = await owner.client.get(`/api/v1/tasks/${created.body.id}`);
      return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(res.body.state) ? (res.body as Task) : undefined;
    },
    20_000,
  );
  return { task, log: (await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text, marker };
}

/** A request to the nginx front with the private CA trusted, as a browser of the company would make it. */
function httpsRequest(
  url: string,
  ca: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method, ca, headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `enroll --json` into a fresh state directory; `extra` adds flags, `env` variables. */
async function enroll(owner: SignedUp, server: string, extra: string[] = [], env: Record<string, string> = {}) {
  const stateDir = newStateDir();
  const name = `corp-${randomBytes(3).toString('hex')}`;
  const token = await enrollmentToken(owner);
  const agent = await runAgentCommand(['enroll', '--server', server, '--token', token, '--name', name, '--state-dir', stateDir, '--json', ...extra], 30_000, env);
  return { agent, stateDir, name, token };
}

/** Enrolled and approved; throws with the agent's output when enrolling failed. */
async function enrolled(owner: SignedUp, server: string, extra: string[] = [], env: Record<string, string> = {}) {
  const e = await enroll(owner, server, extra, env);
  if (e.agent.exitCode !== 0) throw new Error(`enroll failed\n${e.agent.describe()}`);
  const printed = JSON.parse(e.agent.stdout);
  await approve(owner, { stateDir: e.stateDir, name: e.name, log: e.agent.stderr, ...printed });
  return { ...e, agentId: printed.agentId as string };
}

function startRun(stateDir: string, env: Record<string, string> = {}, extra: string[] = []): AgentProcess {
  return spawnAgent(['run', '--state-dir', stateDir, ...extra], env);
}

// --- the tests ----------------------------------------------------------------------------------

let pkiDir: string;
let pki: Pki;
beforeAll(() => {
  pkiDir = mkdtempSync(join(tmpdir(), 'corral-pki-'));
  pki = makePki(pkiDir);
});
afterEach(() => stopAllAgents());
afterAll(() => {
  removeTempDirs();
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
});

describe('the agent on a corporate network', () => {
  let app: TestApp;
  let owner: SignedUp;
  let nginx: Nginx;
  let squid: Squid;

  beforeAll(async () => {
    app = await startTestApp({ TRUST_PROXY: '1' });
    owner = await signUp(app);
    [nginx, squid] = await Promise.all([startNginx(pki, [app.url]), startSquid()]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([nginx?.stop(), squid?.stop()]);
    await app?.close();
  });

  it('runs the reference nginx configuration as it is: only its EDIT lines differ', () => {
    const reference = readFileSync(REFERENCE_CONFIG, 'utf8');
    expect(differences(reference, nginx.rendered)).toEqual([]);
    expect(nginx.rendered.split('\n').filter((line, i) => line !== reference.split('\n')[i])).toHaveLength(EDITS.length);
  });

  it('an agent enrolled with --ca-file runs a job through nginx over WebSocket', async () => {
    const agent = await enrolled(owner, nginx.url, ['--ca-file', pki.caFile]);
    const run = startRun(agent.stateDir);
    // No --ca-file here: run trusts the CA file recorded at enrollment.
    await run.waitForOutput(new RegExp(`connected over websocket to ${escape(nginx.url)}\\n`));
    await run.waitForOutput(/approved: agent/);
    await waitOnline(owner, agent.agentId, 'websocket');

    const { task, log, marker } = await runJob(owner, agent.agentId);
    expect(task.state).toBe('succeeded');
    expect(log).toContain(`${marker}\n`);
    expect(run.output).not.toMatch(/long-poll/i);

    await run.stop('SIGTERM');
    expect(run.exitCode).toBe(0);
    // nginx logs an upgraded request when it closes: the agent's socket was a real WebSocket through it.
    await waitFor('nginx to log the closed WebSocket', () => nginx.accessLog().includes(`${nginx.port} GET /api/agent/v1/ws 101 ${new URL(app.url).host}`), 5_000);
    expect(nginx.accessLog()).not.toContain(`${nginx.port} POST /api/agent/v1/poll`);
  });

  it('passes the scheme, host and client address on: a console login through nginx gets a Secure cookie and may make changes', async () => {
    const login = await httpsRequest(`${nginx.url}/api/v1/auth/login`, pki.ca, 'POST', { 'x-forwarded-for': '203.0.113.9' }, { email: owner.email, password: PASSWORD });
    expect(login.status).toBe(200);
    const setCookie = [login.headers['set-cookie'] ?? []].flat();
    // CORRAL_PUBLIC_URL is the default http:// one: only X-Forwarded-Proto tells the node the request was secure.
    expect(setCookie.join('\n')).toMatch(/;\s*Secure/i);
    const cookie = setCookie.map((c) => c.split(';')[0]).join('; ');
    // The browser's Origin has nginx's port: the node must see the same host and scheme to accept it.
    const created = await httpsRequest(`${nginx.url}/api/v1/api-keys`, pki.ca, 'POST', { cookie, origin: nginx.url }, { name: 'through-nginx' });
    expect([created.status, created.text]).toEqual([201, expect.any(String)]);

    const audit = await owner.client.get('/api/v1/audit-events?action=auth.login&limit=1');
    // nginx appended the address it saw; TRUST_PROXY=1 takes that one, not what the client claimed.
    expect(audit.body.items[0]).toMatchObject({ action: 'auth.login', ip: '127.0.0.1' });
  });

  it('without --ca-file the agent refuses the server, saying to pass --ca-file or set CORRAL_CA_FILE, at enrollment and when running', async () => {
    const hint = /the certificate is not trusted: pass --ca-file or set CORRAL_CA_FILE to the CA bundle that signed it/;
    const refused = await enroll(owner, nginx.url);
    expect(refused.agent.exitCode).toBe(1);
    expect(refused.agent.stdout).toBe('');
    expect(refused.agent.stderr).toMatch(new RegExp(`could not enroll: cannot reach ${escape(nginx.url)}: .*${hint.source}`));
    // Asking again cannot help: it stops at the first refusal.
    expect(refused.agent.stderr).not.toMatch(/trying again/);
    expect(refused.agent.stderr).not.toContain(refused.token);
    expect((await owner.client.get('/api/v1/agents')).body.items.filter((a: { name: string }) => a.name === refused.name)).toEqual([]);

    // An agent enrolled directly, then pointed at the TLS front without the CA: it never connects.
    const agent = await enrolled(owner, app.url);
    const run = startRun(agent.stateDir, {}, ['--server', nginx.url]);
    await run.waitForOutput(new RegExp(`cannot connect over websocket to ${escape(nginx.url)}: .*${hint.source}`));
    expect(run.running).toBe(true);
    expect((await agentView(owner, agent.agentId)).connection.state).toBe('offline');

    // CORRAL_CA_FILE is the other way to say it.
    await run.stop();
    const fixed = startRun(agent.stateDir, { CORRAL_CA_FILE: pki.caFile }, ['--server', nginx.url]);
    await fixed.waitForOutput(new RegExp(`connected over websocket to ${escape(nginx.url)}\\n`));
  });

  it('through squid with credentials in HTTPS_PROXY: enrolls and runs a job, and the password never shows', async () => {
    const env = { HTTPS_PROXY: squid.url(PROXY_USER, PROXY_PASSWORD) };
    const proxyLabel = `http://127.0.0.1:${squid.port}`;
    const agent = await enrolled(owner, nginx.url, ['--ca-file', pki.caFile], env);
    expect(agent.agent.stderr).toContain(`(through proxy ${proxyLabel})`);
    await waitFor('squid to log the enrollment tunnel', () => squid.accessLog().includes(`CONNECT 127.0.0.1:${nginx.port} ${PROXY_USER} TCP_TUNNEL/200`), 5_000);

    const run = startRun(agent.stateDir, env);
    await run.waitForOutput(new RegExp(`connected over websocket to ${escape(nginx.url)} through proxy ${escape(proxyLabel)}\\n`));
    await waitOnline(owner, agent.agentId, 'websocket');
    const { task, log, marker } = await runJob(owner, agent.agentId);
    expect(task.state).toBe('succeeded');
    expect(log).toContain(`${marker}\n`);

    const tunnels = () =>
      squid
        .accessLog()
        .split('\n')
        .filter((l) => l === `CONNECT 127.0.0.1:${nginx.port} ${PROXY_USER} TCP_TUNNEL/200`).length;
    const before = tunnels();
    await run.stop('SIGTERM');
    // squid logs a tunnel when it closes: the WebSocket went through it, as the user.
    await waitFor("squid to log the WebSocket's tunnel", () => tunnels() > before, 5_000);
    for (const output of [agent.agent.output, run.output]) {
      expect(output).not.toContain(PROXY_PASSWORD);
      expect(output).not.toContain(encodeURIComponent(PROXY_PASSWORD));
    }
  });

  it('a wrong proxy password fails enrollment at once, saying the proxy refused the credentials', async () => {
    const denied = () =>
      squid
        .accessLog()
        .split('\n')
        .filter((l) => l === `CONNECT 127.0.0.1:${nginx.port} ${PROXY_USER} TCP_DENIED/407`).length;
    const before = denied();
    const wrong = await enroll(owner, nginx.url, ['--ca-file', pki.caFile], { HTTPS_PROXY: squid.url(PROXY_USER, 'not-the-password') });
    expect(wrong.agent.exitCode).toBe(1);
    expect(wrong.agent.stdout).toBe('');
    expect(wrong.agent.stderr).toMatch(
      new RegExp(
        `could not enroll: cannot reach ${escape(nginx.url)}: proxy http://127\\.0\\.0\\.1:${squid.port} refused CONNECT 127\\.0\\.0\\.1:${nginx.port}: HTTP 407 .*\\(the proxy refused the credentials of user "${PROXY_USER}" in the proxy URL: check the user name and password`,
      ),
    );
    expect(wrong.agent.output).not.toContain('not-the-password');
    await waitFor('squid to log the refused tunnel', () => denied() > before, 5_000);
    expect(denied() - before).toBe(1); // asked once, not again
  });

  it('NO_PROXY covering the server: the agent goes directly, with the proxy down', async () => {
    const env = { HTTPS_PROXY: `http://${PROXY_USER}:x@127.0.0.1:${await deadPort()}`, NO_PROXY: 'localhost,127.0.0.1' };
    const agent = await enrolled(owner, nginx.url, ['--ca-file', pki.caFile], env);
    expect(agent.agent.stderr).toContain('(directly)');
    const run = startRun(agent.stateDir, env);
    await run.waitForOutput(new RegExp(`connected over websocket to ${escape(nginx.url)}\\n`));
    const { task } = await runJob(owner, agent.agentId);
    expect(task.state).toBe('succeeded');
    expect(run.output).not.toMatch(/proxy/i);
  });

  it('behind a reverse proxy that does not pass WebSocket upgrades, the agent falls back to long-poll and runs the job', async () => {
    const agent = await enrolled(owner, nginx.legacyUrl);
    const run = startRun(agent.stateDir);
    // The control plane's 426 says what happened, and the agent passes it on.
    await run.waitForOutput(new RegExp(`WebSocket to ${escape(nginx.legacyUrl)} is not available \\(.*arrived without "Upgrade: websocket": a proxy .*\\); falling back to HTTP long-poll`));
    await run.waitForOutput(new RegExp(`connected over HTTP long-poll to ${escape(nginx.legacyUrl)}\\n`));
    await waitOnline(owner, agent.agentId, 'long-poll');
    const { task, log, marker } = await runJob(owner, agent.agentId);
    expect(task.state).toBe('succeeded');
    expect(log).toContain(`${marker}\n`);
  });
});

describe('two control-plane nodes on one database behind the reference nginx', () => {
  let a: TestApp;
  let b: TestApp;
  let nginx: Nginx;
  let operator: SignedUp;
  const nodeIds = new Map<string, TestApp>();
  const operatorEmail = uniqueEmail('operator');

  beforeAll(async () => {
    const env = { TRUST_PROXY: '1', CORRAL_PLATFORM_OPERATORS: operatorEmail };
    a = await startTestApp(env);
    b = await startTestApp(env, { url: a.databaseUrl, drop: async () => undefined });
    nginx = await startNginx(pki, [a.url, b.url]);
    operator = await signUp(a, 'Hosting', operatorEmail);
    // Each node marks itself in the list it answers.
    const { key } = await makeApiKey(a, operator);
    for (const app of [a, b]) nodeIds.set(((await new HttpClient(app.url).withBearer(key).get('/api/v1/nodes')).body as { id: string; self: boolean }[]).find((n) => n.self)!.id, app);
  }, 120_000);
  afterAll(async () => {
    await nginx?.stop();
    await b?.close();
    await a?.close();
  });

  /** An organisation of its own for each test, so that its one agent is the only one the nodes count. */
  async function organization() {
    const owner = await signUp(a);
    const { key } = await makeApiKey(a, owner);
    // The owner's view through one node, for when the other is gone.
    return { owner, through: (app: TestApp): SignedUp => ({ ...owner, client: new HttpClient(app.url).withBearer(key) }) };
  }

  /** The node (a or b) whose registry row shows the organisation's agent connected, once one does. */
  function holder(via: SignedUp, not?: TestApp) {
    return waitFor(
      'a node holding the agent',
      async () => {
        const nodes = (await via.client.get('/api/v1/nodes')).body as { id: string; connectedAgents: number; state: string }[];
        const node = nodes.find((n) => n.state === 'alive' && n.connectedAgents === 1 && nodeIds.get(n.id) !== not);
        const app = node && nodeIds.get(node.id);
        return node && app ? { id: node.id, app } : undefined;
      },
      25_000,
    );
  }

  it('renders the upstream EDIT line once per node, and nothing else', () => {
    expect(differences(readFileSync(REFERENCE_CONFIG, 'utf8'), nginx.rendered)).toEqual([]);
    expect(nginx.rendered).toContain(`server ${new URL(a.url).host} `);
    expect(nginx.rendered).toContain(`server ${new URL(b.url).host} `);
  });

  it('a long-polling agent is answered by both nodes in turn and runs its jobs', async () => {
    const { owner } = await organization();
    const agent = await enrolled(owner, nginx.url, ['--ca-file', pki.caFile]);
    const run = startRun(agent.stateDir, {}, ['--transport', 'poll']);
    await run.waitForOutput(/approved: agent/);
    for (let i = 0; i < 2; i++) {
      const { task, log, marker } = await runJob(owner, agent.agentId);
      expect(task.state).toBe('succeeded');
      expect(log).toContain(`${marker}\n`);
    }
    const upstreams = new Set(
      nginx
        .accessLog()
        .split('\n')
        .filter((l) => l.startsWith(`${nginx.port} POST /api/agent/v1/`))
        .map((l) => l.split(' ').pop()),
    );
    expect([...upstreams].sort()).toEqual([new URL(a.url).host, new URL(b.url).host].sort());
  });

  it('draining the node that holds a WebSocket agent sends it to the other node, which runs its next job', async () => {
    const { owner } = await organization();
    const agent = await enrolled(owner, nginx.url, ['--ca-file', pki.caFile]);
    const run = startRun(agent.stateDir, {}, ['--transport', 'ws']);
    await run.waitForOutput(/approved: agent/);
    const first = await holder(owner);

    const drained = await operator.client.post(`/api/v1/nodes/${first.id}/drain`);
    expect([drained.status, drained.body.draining]).toEqual([200, true]);
    await run.waitForOutput(/asked the agent to reconnect/);
    const second = await holder(owner, first.app);
    const { task } = await runJob(owner, agent.agentId);
    expect(task.state).toBe('succeeded');
    expect(second.app).not.toBe(first.app);
    const nodes = (await owner.client.get('/api/v1/nodes')).body as { id: string; draining: boolean; connectedAgents: number }[];
    expect(nodes.find((n) => n.id === first.id)).toMatchObject({ draining: true, connectedAgents: 0 });

    expect((await operator.client.post(`/api/v1/nodes/${first.id}/undrain`)).status).toBe(200);
  });

  it('killing the node that holds a WebSocket agent: the agent reconnects through nginx to the other node and runs its next job', async () => {
    const { owner, through } = await organization();
    const agent = await enrolled(owner, nginx.url, ['--ca-file', pki.caFile]);
    const run = startRun(agent.stateDir, {}, ['--transport', 'ws']);
    await run.waitForOutput(/approved: agent/);
    const first = await holder(owner);
    const survivor = first.app === a ? b : a;

    await first.app.process.stop('SIGKILL');
    // nginx finds the dead node refusing connections and passes the agent to the survivor.
    await run.waitForOutput(/connection to https:\/\/127\.0\.0\.1:\d+ lost: [^\n]*\n[\s\S]*connected over websocket/, 20_000);
    const view = through(survivor);
    await holder(view, first.app);
    const { task } = await runJob(view, agent.agentId);
    expect(task.state).toBe('succeeded');
    // The survivor had not served this organisation before: the hello was not lost while it looked it up.
    expect(run.output).not.toMatch(/send agent\.hello first/);
  });
});
