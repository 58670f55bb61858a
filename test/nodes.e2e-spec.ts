import { waitFor } from './helpers/control-plane-process';
import { makeApiKey, makeApprovedAgent, makeMember, signUp, type SignedUp, uniqueEmail } from './helpers/factories';
import { offerIn } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('control-plane nodes: registry, drain, metrics', () => {
  let a: TestApp;
  let b: TestApp;
  let owner: SignedUp;
  /** Runs the control plane (CORRAL_PLATFORM_OPERATORS), from an organisation of its own. */
  let operator: SignedUp;
  const operatorEmail = uniqueEmail('operator');
  beforeAll(async () => {
    a = await startTestApp({ NODE_HEARTBEAT_SECONDS: '1', METRICS_TOKEN: 'scrape-me-please', CORRAL_PLATFORM_OPERATORS: operatorEmail.toUpperCase() });
    b = await startTestApp({ NODE_HEARTBEAT_SECONDS: '1', CORRAL_PLATFORM_OPERATORS: operatorEmail }, { url: a.databaseUrl, drop: async () => undefined });
    owner = await signUp(a);
    operator = await signUp(a, 'Hosting', operatorEmail);
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  it("lists every node with the organisation's connected agents and running jobs on each", async () => {
    const agent = await makeApprovedAgent(a, owner);
    const socket = await agent.at(b.url).connect();
    const task = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'sleep 1' } });
    const offer = await socket.next('offer via node B', (m) => offerIn(agent, m));
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    const nodes = await waitFor('node B shows the agent and its running job', async () => {
      const res = await owner.client.get('/api/v1/nodes');
      const nodeB = res.body.find((n: { connectedAgents: number; runningJobs: number }) => n.connectedAgents === 1 && n.runningJobs === 1);
      return nodeB ? res.body : undefined;
    });
    expect(nodes).toHaveLength(2);
    // Both listen on a port picked at start (PORT=0): the registry has the real ones.
    await waitFor('both nodes registered with their ports', async () => {
      const ports = (await owner.client.get('/api/v1/nodes')).body.map((n: { address: string }) => n.address.split(':').pop()).sort();
      return JSON.stringify(ports) === JSON.stringify([new URL(a.url).port, new URL(b.url).port].sort()) || undefined;
    });
    expect(nodes.every((n: { state: string; draining: boolean }) => n.state === 'alive' && !n.draining)).toBe(true);
    // Another organisation sees the nodes but none of these agents or jobs.
    const stranger = await signUp(a);
    const theirs = (await stranger.client.get('/api/v1/nodes')).body;
    expect(theirs.map((n: { connectedAgents: number; runningJobs: number }) => n.connectedAgents + n.runningJobs)).toEqual([0, 0]);
    socket.send({ type: 'agent.job.finish', jobId: offer.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 0 });
    await waitFor('task done', async () => (await owner.client.get(`/api/v1/tasks/${task.body.id}`)).body.state === 'succeeded' || undefined);
    socket.close();
  });

  it('ends API keys on every node: revoked, or their creator lowered or removed, through another node', async () => {
    const admin = await makeMember(a, owner, 'admin');
    const revoked = await makeApiKey(a, admin);
    const lowered = await makeApiKey(a, admin);
    const onB = (key: string) => b.client().withBearer(key);
    // Node B has looked each key up (and may hold it) before anything changes on node A.
    for (const { key } of [revoked, lowered]) expect((await onB(key).get('/api/v1/api-keys')).status).toBe(200);

    expect((await admin.client.delete(`/api/v1/api-keys/${revoked.id}`)).status).toBe(204);
    await waitFor('node B refuses the revoked key', async () => (await onB(revoked.key).get('/api/v1/api-keys')).status === 401 || undefined, 5000);

    expect((await owner.client.patch(`/api/v1/members/${admin.membershipId}`, { role: 'viewer' })).status).toBe(200);
    await waitFor("node B refuses the demoted member's key", async () => (await onB(lowered.key).get('/api/v1/members')).status === 401 || undefined, 5000);

    const leaver = await makeMember(a, owner, 'operator');
    const removed = await makeApiKey(a, leaver);
    expect((await onB(removed.key).get('/api/v1/members')).status).toBe(200);
    expect((await owner.client.delete(`/api/v1/members/${leaver.membershipId}`)).status).toBe(204);
    await waitFor("node B refuses the removed member's key", async () => (await onB(removed.key).get('/api/v1/members')).status === 401 || undefined, 5000);
  });

  it('drains a node through the other: its agents are sent away, it refuses new ones and offers no work', async () => {
    const agent = await makeApprovedAgent(a, owner);
    // The node serving the request marks itself: drain the other one (B) through A.
    const nodes = (await owner.client.get('/api/v1/nodes')).body as { id: string; self: boolean }[];
    const other = nodes.find((n) => !n.self)!;
    const bAgent = agent.at(b.url);
    const socket = await bAgent.connect();

    // Draining affects every organisation on the node: to an organisation's owner or admin the route is not there.
    const admin = await makeMember(a, owner, 'admin');
    for (const client of [admin.client, owner.client]) {
      const refused = await client.post(`/api/v1/nodes/${other.id}/drain`);
      expect([refused.status, refused.body.error.code]).toEqual([404, 'ROUTE_NOT_FOUND']);
    }
    expect((await owner.client.get('/api/v1/me')).body.user.platformOperator).toBeUndefined();
    expect((await operator.client.get('/api/v1/me')).body.user.platformOperator).toBe(true);
    expect((await operator.client.post('/api/v1/nodes/no-such-node/drain')).status).toBe(404);
    const drained = await operator.client.post(`/api/v1/nodes/${other.id}/drain`);
    expect(drained.status).toBe(200);
    expect(drained.body.draining).toBe(true);
    const reconnect = await socket.next('reconnect request', (m) => m.type === 'server.reconnect' && m);
    // A load balancer's readiness probe turns it away too; node A stays ready.
    const ready = await b.client().get('/readyz');
    expect([ready.status, ready.body.error.message]).toEqual([503, expect.stringContaining('this node is draining')]);
    expect((await a.client().get('/readyz')).status).toBe(200);
    expect(reconnect.maxDelayMs).toBeGreaterThan(0);
    socket.close();

    await expect(bAgent.connect().then(async (s) => (await waitFor('closed', () => s.closed)).code)).resolves.toBe(4012);
    const polled = await bAgent.poll('approved');
    expect([polled.status, polled.body.error.code]).toEqual([503, 'NODE_DRAINING']);
    // Node A still serves the agent and its work.
    const onA = await agent.connect();
    await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'true' } });
    await onA.next('offer via node A', (m) => offerIn(agent, m));
    onA.close();
    const audit = await operator.client.get('/api/v1/audit-events?action=node.drained');
    expect(audit.body.items[0]).toMatchObject({ targetId: other.id, actorLabel: operator.email });

    // Undrained, by an operator only: node B takes agents again.
    expect((await owner.client.post(`/api/v1/nodes/${other.id}/undrain`)).status).toBe(404);
    const undrained = await operator.client.post(`/api/v1/nodes/${other.id}/undrain`);
    expect([undrained.status, undrained.body.draining]).toEqual([200, false]);
    const back = await waitFor('node B to take an agent again', async () => {
      const s = await bAgent.connect();
      const first = await waitFor('its status or a close', () => s.closed ?? s.messages.find((m) => m.type === 'signed'));
      if ('code' in first) return undefined;
      return s;
    });
    back.close();
    expect((await b.client().get('/readyz')).status).toBe(200);
    expect((await operator.client.get('/api/v1/audit-events?action=node.undrained')).body.items[0]).toMatchObject({ targetId: other.id });
  });

  it("shows a platform operator every organisation's agents and running jobs on each node; an owner gets 404", async () => {
    const agent = await makeApprovedAgent(a, owner);
    const socket = await agent.at(b.url).connect();
    try {
      await socket.next('its status', (m) => m.type === 'signed');
      expect((await owner.client.get('/api/v1/platform/nodes')).status).toBe(404);
      const onB = await waitFor('the agent on node B in the cluster view', async () => {
        const res = await operator.client.get('/api/v1/platform/nodes');
        const nodeB = (res.body as { self: boolean; organizations: { organizationId: string; connectedAgents: number }[] }[]).find((n) =>
          n.organizations.some((o) => o.organizationId === owner.organizationId && o.connectedAgents >= 1),
        );
        return nodeB;
      });
      expect(onB).toMatchObject({ state: 'alive', organizations: expect.arrayContaining([expect.objectContaining({ organizationId: owner.organizationId, runningJobs: 0 })]) });
      expect((onB as unknown as { connectedAgents: number }).connectedAgents).toBeGreaterThanOrEqual(1);
    } finally {
      socket.close();
    }
  });

  it('serves Prometheus metrics behind METRICS_TOKEN', async () => {
    expect((await fetch(`${a.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${a.url}/metrics`, { headers: { authorization: 'Bearer scrape-me-please' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of [
      'corral_jobs{state="queued"}',
      'corral_queue_depth',
      'corral_dispatch_latency_seconds_bucket',
      'corral_connected_agents{transport="websocket"}',
      'corral_http_request_duration_seconds_bucket',
    ])
      expect(text).toContain(name);
    expect(text).toMatch(/corral_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/tasks",status="201"\} \d+/);
  });
});
