import { deadPort, removeTempDirs, runApprovedAgent, stopAllAgents } from './helpers/agent-process';
import { type ControlPlaneProcess, startControlPlane, waitFor } from './helpers/control-plane-process';
import { signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// What an operator reads in the control plane's own log (JSON, one object a line): who asked
// what from where, agents coming, going and decided, and a peer node falling silent.

type Line = Record<string, unknown> & { msg: string; level: string };

const lines = (cp: ControlPlaneProcess): Line[] =>
  cp
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

const logged = (cp: ControlPlaneProcess, what: string, match: (l: Line) => boolean) => waitFor(what, () => lines(cp).find(match), 20_000);

afterAll(async () => {
  await stopAllAgents();
  removeTempDirs();
});

describe("the control plane's log", () => {
  let db: { url: string; drop: () => Promise<void> };
  let a: ControlPlaneProcess;
  let b: ControlPlaneProcess;
  let owner: SignedUp;
  const env = async () => ({ DATABASE_URL: db.url, PORT: String(await deadPort()), NODE_HEARTBEAT_SECONDS: '1', NODE_DEAD_AFTER_SECONDS: '3' });

  beforeAll(async () => {
    db = await createTestDatabase();
    a = await startControlPlane(await env());
    b = await startControlPlane(await env());
    owner = await signUp({ client: () => new HttpClient(a.url) });
  }, 120_000);
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await db?.drop();
  });

  it('names the route, the client address, the organisation and the user on each request line', async () => {
    const key = (await owner.client.post('/api/v1/api-keys', { name: 'pipeline' })).body.key;
    const res = await new HttpClient(a.url).withBearer(key).get(`/api/v1/agents/00000000-0000-4000-8000-000000000000`);
    expect(res.status).toBe(404);
    const line = await logged(a, 'the request line', (l) => l.msg === 'request' && l.route === '/api/v1/agents/:id');
    expect(line).toMatchObject({
      level: 'info',
      method: 'GET',
      status: 404,
      ip: '127.0.0.1',
      organizationId: owner.organizationId,
      user: `pipeline (API key of ${owner.email})`,
      requestId: res.headers.get('x-request-id'),
    });
    expect(JSON.stringify(lines(a))).not.toContain(key);
  });

  it('tells of an agent approved, connected, revoked and disconnected', async () => {
    const agent = await runApprovedAgent(owner, a.url, 'web-1', { environments: [], roles: [] });
    const approved = await logged(a, 'agent approved', (l) => l.msg === 'agent approved');
    expect(approved).toMatchObject({ name: 'web-1', organizationId: owner.organizationId, by: owner.email });
    const id = approved.agentId as string;
    await logged(a, 'agent connected', (l) => l.msg === 'agent connected' && l.agentId === id && l.status === 'approved' && l.transport === 'websocket');
    expect((await owner.client.post(`/api/v1/agents/${id}/revoke`, { reason: 'decommissioned' })).status).toBe(200);
    await logged(a, 'agent revoked', (l) => l.msg === 'agent revoked' && l.agentId === id && l.reason === 'decommissioned');
    await logged(a, 'agent disconnected', (l) => l.msg === 'agent disconnected' && l.agentId === id);
    await agent.exited;
  });

  it('says once when a peer node falls silent', async () => {
    const nodes = (await owner.client.get('/api/v1/nodes')).body as { id: string; self: boolean; lastSeenAt: string }[];
    const peer = nodes.find((n) => !n.self)!;
    const self = () => owner.client.get('/api/v1/nodes').then((r) => (r.body as typeof nodes).find((n) => n.self)!.lastSeenAt);
    b.child.kill('SIGKILL');
    await b.exited;
    await logged(a, 'the peer presumed dead', (l) => l.msg.startsWith('a peer node is presumed dead') && l.nodeId === peer.id && l.level === 'warn');
    // Its next heartbeats (each one moves its lastSeenAt) see the same silent peer and say nothing more.
    for (let beat = 0; beat < 2; beat++) {
      const before = await self();
      await waitFor('a heartbeat of node A', async () => (await self()) !== before || undefined, 10_000, 200);
    }
    expect(lines(a).filter((l) => l.msg.startsWith('a peer node is presumed dead'))).toHaveLength(1);
  });
});
