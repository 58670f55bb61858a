import type { ServerMessage } from '../src/protocol/messages';
import { waitFor } from './helpers/control-plane-process';
import { signUp, type SignedUp } from './helpers/factories';
import type { HttpClient } from './helpers/http-client';
import { ProtocolAgent } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

// What the control plane does for the web console: serving it, the session probe, the live
// agent changes (never another organisation's), and the list filters its pages use.

interface StreamEvent {
  event: string;
  data: any;
}

/** Follows a server-sent event stream with `client`'s session; `close` hangs up. */
async function follow(app: TestApp, client: HttpClient, path: string): Promise<{ events: StreamEvent[]; close: () => void }> {
  const abort = new AbortController();
  const res = await fetch(app.url + path, { headers: { cookie: client.cookieHeader(), accept: 'text/event-stream' }, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: StreamEvent[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) events.push({ event, data: data ? JSON.parse(data) : null });
        }
      }
    } catch {
      // hung up
    }
  })();
  await waitFor('the stream to say it is ready', () => events.some((e) => e.event === 'ready'));
  return { events, close: () => abort.abort() };
}

async function enrolledAgent(app: TestApp, owner: SignedUp): Promise<{ agent: ProtocolAgent; code: string }> {
  const agent = new ProtocolAgent(app.url);
  const enrolled = await agent.enroll((await owner.client.post('/api/v1/enrollment-tokens', {})).body.token);
  expect(enrolled.status).toBe(201);
  return { agent, code: enrolled.body.verificationCode };
}

describe('the control plane for the web console', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it('serves the console: index.html without caching, hashed assets for good, the page for its own routes', async () => {
    const index = await fetch(`${app.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];

    const asset = await fetch(app.url + script);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${app.url}/assets/index-gone.js`)).status).toBe(404);

    for (const path of ['/agents', '/tasks/5f1c7a36-0000-4000-8000-000000000000', '/enrollment-tokens?x=1']) {
      const res = await fetch(app.url + path);
      expect([path, res.status, res.headers.get('content-type')]).toEqual([path, 200, 'text/html; charset=utf-8']);
    }
  });

  it('never answers API, metrics or health paths with the page', async () => {
    const unknown = await fetch(`${app.url}/api/v1/no-such-thing`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error.code).toBe('ROUTE_NOT_FOUND');
    expect((await fetch(`${app.url}/api`)).headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${app.url}/healthz`)).headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${app.url}/metrics`)).headers.get('content-type')).toContain('text/plain');
    // Only GET and HEAD reach the console.
    const post = await fetch(`${app.url}/agents`, { method: 'POST' });
    expect(post.status).toBe(404);
    expect(post.headers.get('content-type')).toContain('application/json');
  });

  it('answers the session probe with 200 whether or not someone is logged in', async () => {
    const anonymous = await app.client().get('/api/v1/console/session');
    expect([anonymous.status, anonymous.body]).toEqual([200, { me: null }]);
    const owner = await signUp(app);
    const session = await owner.client.get('/api/v1/console/session');
    expect(session.status).toBe(200);
    expect(session.body.me).toMatchObject({ user: { email: owner.email }, role: 'owner' });
    await owner.client.post('/api/v1/auth/logout');
    expect((await owner.client.get('/api/v1/console/session')).body).toEqual({ me: null });
  });

  it('streams changes of the organisation’s own agents, and nothing of another’s', async () => {
    const owner = await signUp(app);
    const other = await signUp(app);
    const mine = await follow(app, owner.client, '/api/v1/agent-events');
    const theirs = await follow(app, other.client, '/api/v1/agent-events');
    try {
      const { agent, code } = await enrolledAgent(app, owner);
      await waitFor('the enrollment event', () => mine.events.find((e) => e.event === 'agent-changed' && e.data.agentId === agent.agentId && e.data.status === 'pending'));
      await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: code });
      await waitFor('the approval event', () => mine.events.find((e) => e.event === 'agent-changed' && e.data.status === 'approved'));
      await owner.client.delete(`/api/v1/agents/${agent.agentId}`);
      await waitFor('the deletion event', () => mine.events.find((e) => e.event === 'agent-changed' && e.data.status === null));
      expect(theirs.events.filter((e) => e.event !== 'ready')).toEqual([]);
    } finally {
      mine.close();
      theirs.close();
    }
    expect((await app.client().get('/api/v1/agent-events')).status).toBe(401);
  });

  it('lists the tasks running on a node’s agents, and an agent’s audit trail', async () => {
    const owner = await signUp(app);
    const { agent, code } = await enrolledAgent(app, owner);
    await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: code });
    const socket = await agent.connect();
    const task = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'sleep 1' } });
    const offer = await socket.next('the offer', (m: ServerMessage) => agent.offersIn(m)[0]);
    socket.send({ type: 'agent.job.accept', jobId: offer.jobId, attempt: 1 });
    const node = await waitFor('the node to show the running job', async () => (await owner.client.get('/api/v1/nodes')).body.find((n: any) => n.runningJobs === 1));

    const onNode = await owner.client.get(`/api/v1/tasks?nodeId=${node.id}`);
    expect(onNode.body.items.map((t: any) => t.id)).toEqual([task.body.id]);
    expect((await owner.client.get('/api/v1/tasks?nodeId=5f1c7a36-0000-4000-8000-000000000000')).body.items).toEqual([]);
    expect((await owner.client.get('/api/v1/tasks?nodeId=node-1')).status).toBe(422);

    const trail = await owner.client.get(`/api/v1/audit-events?targetId=${agent.agentId}`);
    expect(trail.body.items.map((e: any) => e.action)).toEqual(['agent.approved', 'agent.enrolled']);
    socket.close();
  });
});

describe('security headers', () => {
  const paths = ['/', '/agents', '/api/v1/me', '/api/v1/nothing-here', '/healthz'];

  it('sends nosniff on every answer, and the console its CSP and framing rules; no HSTS over a plain-http public URL', async () => {
    const app = await startTestApp();
    try {
      for (const path of paths) {
        const res = await fetch(app.url + path);
        expect([path, res.headers.get('x-content-type-options'), res.headers.get('strict-transport-security')]).toEqual([path, 'nosniff', null]);
      }
      const page = await fetch(`${app.url}/`);
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('referrer-policy')).toBe('same-origin');
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    } finally {
      await app.close();
    }
  });

  it('sends HSTS on the API and the console when the public URL is https', async () => {
    const app = await startTestApp({ CORRAL_PUBLIC_URL: 'https://corral.example' });
    try {
      for (const path of paths) {
        const res = await fetch(app.url + path);
        expect([path, res.headers.get('strict-transport-security')]).toEqual([path, 'max-age=31536000; includeSubDomains']);
      }
    } finally {
      await app.close();
    }
  });
});
