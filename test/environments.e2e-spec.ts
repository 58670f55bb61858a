import { makeApprovedAgent, makeMember, signUp, type SignedUp } from './helpers/factories';
import { ProtocolAgent } from './helpers/protocol-agent';
import { startTestApp, type TestApp } from './helpers/test-app';

interface EnvironmentView {
  id: string;
  name: string;
  description: string;
  guidedFailure: boolean;
  position: number;
}

describe('environments', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
  });
  afterAll(() => app.close());

  const create = async (name: string, description?: string): Promise<EnvironmentView> => {
    const res = await owner.client.post('/api/v1/environments', { name, ...(description ? { description } : {}) });
    expect(res.status).toBe(201);
    return res.body;
  };
  const names = async () => ((await owner.client.get('/api/v1/environments')).body as EnvironmentView[]).map((e) => e.name);

  it('creates, lists in the order users set, renames, describes and deletes environments, audited', async () => {
    const dev = await create('Dev', 'where every release goes first');
    const test = await create('Test');
    const prod = await create('Prod');
    expect(await names()).toEqual(['Dev', 'Test', 'Prod']);
    expect((await owner.client.get(`/api/v1/environments/${dev.id}`)).body).toMatchObject({ name: 'Dev', description: 'where every release goes first', position: 0 });

    const ordered = await owner.client.post('/api/v1/environments/order', { ids: [prod.id, dev.id, test.id] });
    expect(ordered.status).toBe(200);
    expect(ordered.body.map((e: EnvironmentView) => e.name)).toEqual(['Prod', 'Dev', 'Test']);
    const incomplete = await owner.client.post('/api/v1/environments/order', { ids: [prod.id, dev.id] });
    expect([incomplete.status, incomplete.body.error.code]).toEqual([422, 'ORDER_INCOMPLETE']);
    expect(incomplete.body.error.message).toContain('missing: Test');
    const repeated = await owner.client.post('/api/v1/environments/order', { ids: [prod.id, dev.id, test.id, dev.id] });
    expect(repeated.status).toBe(422);
    expect((await owner.client.post('/api/v1/environments/order', { ids: [prod.id, dev.id, test.id] })).status).toBe(200);

    expect(test.guidedFailure).toBe(false);
    const renamed = await owner.client.patch(`/api/v1/environments/${test.id}`, { name: 'Staging', description: 'like Prod', guidedFailure: true });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id: test.id, name: 'Staging', description: 'like Prod', guidedFailure: true });
    expect((await owner.client.get(`/api/v1/environments/${test.id}`)).body.guidedFailure).toBe(true);
    expect((await owner.client.delete(`/api/v1/environments/${test.id}`)).status).toBe(204);
    expect(await names()).toEqual(['Prod', 'Dev']);
    expect((await owner.client.get(`/api/v1/environments/${test.id}`)).status).toBe(404);

    const audit = (await owner.client.get('/api/v1/audit-events?limit=50')).body.items.map((e: { action: string }) => e.action);
    for (const action of ['environment.created', 'environment.reordered', 'environment.updated', 'environment.deleted']) expect(audit).toContain(action);
  });

  it('refuses bad input with a 4xx that says what to do', async () => {
    await create('Unique');
    const clash = await owner.client.post('/api/v1/environments', { name: 'unique' });
    expect([clash.status, clash.body.error.code]).toEqual([409, 'ENVIRONMENT_EXISTS']);
    expect(clash.body.error.message).toContain('"Unique" already exists');
    for (const body of [{}, { name: '' }, { name: 'has space' }, { name: 'x'.repeat(65) }, { name: 'ok', description: 5 }]) {
      const res = await owner.client.post('/api/v1/environments', body);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await owner.client.patch('/api/v1/environments/not-a-uuid', { name: 'x' })).status).toBe(400);
    expect((await owner.client.post('/api/v1/environments/order', { ids: 'all' })).status).toBe(422);
  });

  it('needs admin to change environments; viewers see them', async () => {
    const env = await create('ForViewers');
    const viewer = await makeMember(app, owner, 'viewer');
    const operator = await makeMember(app, owner, 'operator');
    expect((await viewer.client.get('/api/v1/environments')).status).toBe(200);
    expect((await viewer.client.get(`/api/v1/environments/${env.id}`)).status).toBe(200);
    for (const client of [viewer.client, operator.client]) {
      expect((await client.post('/api/v1/environments', { name: 'Nope' })).status).toBe(403);
      expect((await client.patch(`/api/v1/environments/${env.id}`, { name: 'Nope' })).status).toBe(403);
      expect((await client.delete(`/api/v1/environments/${env.id}`)).status).toBe(403);
    }
  });

  describe('as agents carry them', () => {
    let org: SignedUp;
    beforeAll(async () => {
      org = await signUp(app);
      for (const name of ['Dev', 'Prod']) expect((await org.client.post('/api/v1/environments', { name })).status).toBe(201);
    });

    it('approves an agent into existing environments only (by name, any case, or id), spelled as they are', async () => {
      const [dev] = (await org.client.get('/api/v1/environments')).body as EnvironmentView[];
      const agent = new ProtocolAgent(app.url);
      const tokenRes = await org.client.post('/api/v1/enrollment-tokens', { environments: ['dev'] });
      expect(tokenRes.status).toBe(201);
      expect(tokenRes.body.environments).toEqual(['Dev']);
      const enrolled = (await agent.enroll(tokenRes.body.token)).body;
      const unknown = await org.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: enrolled.verificationCode, environments: ['Prod', 'Qa'] });
      expect([unknown.status, unknown.body.error.code]).toEqual([422, 'UNKNOWN_ENVIRONMENT']);
      expect(unknown.body.error.message).toMatch(/no environment "Qa" in this organisation; create it first .* one of: Dev, Prod/);
      expect((await org.client.get(`/api/v1/agents/${agent.agentId}`)).body.status).toBe('pending');
      // Another organisation's environment, even by id, is not one of these.
      const theirs = ((await owner.client.get('/api/v1/environments')).body as EnvironmentView[]).find((e) => e.name === 'Unique')!;
      const foreign = await org.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: enrolled.verificationCode, environments: [theirs.id] });
      expect([foreign.status, foreign.body.error.code]).toEqual([422, 'UNKNOWN_ENVIRONMENT']);
      expect(foreign.text).not.toContain(theirs.name);
      const badToken = await org.client.post('/api/v1/enrollment-tokens', { environments: ['Qa'] });
      expect([badToken.status, badToken.body.error.code]).toEqual([422, 'UNKNOWN_ENVIRONMENT']);

      const ok = await org.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: enrolled.verificationCode, environments: [dev.id, 'PROD'] });
      expect(ok.status).toBe(200);
      expect(ok.body.environments).toEqual(['Dev', 'Prod']);
    });

    it("lets an admin change an approved agent's environments and roles, audited; a rename follows into the agent", async () => {
      const agent = await makeApprovedAgent(app, org);
      const changed = await org.client.patch(`/api/v1/agents/${agent.agentId}`, { environments: ['prod'], roles: ['web', 'web', 'db'] });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ environments: ['Prod'], roles: ['web', 'db'] });
      const rolesOnly = await org.client.patch(`/api/v1/agents/${agent.agentId}`, { roles: ['web'] });
      expect(rolesOnly.body).toMatchObject({ environments: ['Prod'], roles: ['web'] });
      const unknown = await org.client.patch(`/api/v1/agents/${agent.agentId}`, { environments: ['Nowhere'] });
      expect([unknown.status, unknown.body.error.code]).toEqual([422, 'UNKNOWN_ENVIRONMENT']);
      const badRole = await org.client.patch(`/api/v1/agents/${agent.agentId}`, { roles: ['no spaces'] });
      expect(badRole.status).toBe(422);
      const operator = await makeMember(app, org, 'operator');
      expect((await operator.client.patch(`/api/v1/agents/${agent.agentId}`, { roles: [] })).status).toBe(403);

      const pending = new ProtocolAgent(app.url);
      await pending.enroll((await org.client.post('/api/v1/enrollment-tokens', {})).body.token);
      const notApproved = await org.client.patch(`/api/v1/agents/${pending.agentId}`, { roles: ['web'] });
      expect([notApproved.status, notApproved.body.error.code]).toEqual([409, 'AGENT_NOT_APPROVED']);

      const audit = (await org.client.get(`/api/v1/audit-events?action=agent.updated&targetId=${agent.agentId}`)).body.items;
      expect(audit[audit.length - 1].details).toEqual({ from: { environments: [], roles: [] }, to: { environments: ['Prod'], roles: ['web', 'db'] } });

      const prod = ((await org.client.get('/api/v1/environments')).body as EnvironmentView[]).find((e) => e.name === 'Prod')!;
      expect((await org.client.patch(`/api/v1/environments/${prod.id}`, { name: 'Production' })).status).toBe(200);
      expect((await org.client.get(`/api/v1/agents/${agent.agentId}`)).body.environments).toEqual(['Production']);

      const inUse = await org.client.delete(`/api/v1/environments/${prod.id}`);
      expect([inUse.status, inUse.body.error.code]).toEqual([409, 'ENVIRONMENT_IN_USE']);
      expect(inUse.body.error.message).toMatch(/"Production" is still used by \d+ agents?; take it off them first/);
    });
  });
});
