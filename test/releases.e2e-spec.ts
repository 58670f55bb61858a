import { makeMember, signUp, type SignedUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

const step = (name: string, body = 'echo hi') => ({ name, kind: 'script', script: { syntax: 'sh', body }, targetRoles: ['web'] });

describe('releases', () => {
  let app: TestApp;
  let owner: SignedUp;
  let projectId: string;
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
    for (const name of ['Dev', 'Prod']) expect((await owner.client.post('/api/v1/environments', { name })).status).toBe(201);
    projectId = (await owner.client.post('/api/v1/projects', { name: 'Shop' })).body.id;
  });
  afterAll(() => app.close());

  it('needs a deployment process first', async () => {
    const res = await owner.client.post(`/api/v1/projects/${projectId}/releases`, {});
    expect([res.status, res.body.error.code]).toEqual([422, 'NO_PROCESS']);
    expect(res.body.error.message).toContain(`PUT /api/v1/projects/${projectId}/process`);
  });

  it('numbers releases 1.0.0, 1.0.1, … unless given a version, unique per project, audited', async () => {
    await owner.client.put(`/api/v1/projects/${projectId}/process`, { steps: [step('deploy')] });
    const first = await owner.client.post(`/api/v1/projects/${projectId}/releases`, { notes: 'first!' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ version: '1.0.0', notes: 'first!', processVersion: 1, createdBy: owner.email });
    expect((await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body.version).toBe('1.0.1');
    expect((await owner.client.post(`/api/v1/projects/${projectId}/releases`, { version: '2.0.0-rc1' })).status).toBe(201);
    expect((await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body.version).toBe('1.0.2');
    const taken = await owner.client.post(`/api/v1/projects/${projectId}/releases`, { version: '1.0.1' });
    expect([taken.status, taken.body.error.code]).toEqual([409, 'VERSION_TAKEN']);
    expect(taken.body.error.message).toContain('leave it out for 1.0.3');
    const bad = await owner.client.post(`/api/v1/projects/${projectId}/releases`, { version: 'no spaces please' });
    expect([bad.status, bad.body.error.code]).toEqual([422, 'VALIDATION_FAILED']);
    const list = (await owner.client.get(`/api/v1/projects/${projectId}/releases`)).body.map((r: { version: string }) => r.version);
    expect(list).toEqual(['1.0.2', '2.0.0-rc1', '1.0.1', '1.0.0']);
    const audit = (await owner.client.get('/api/v1/audit-events?action=release.created')).body.items;
    expect(audit).toHaveLength(4);
    expect(audit[0].details).toMatchObject({ project: 'Shop', version: '1.0.2', processVersion: 1 });
  });

  it('finds one release by its version, and says what is wrong with a version that cannot be one', async () => {
    const found = await owner.client.get(`/api/v1/projects/${projectId}/releases?version=1.0.1`);
    expect([found.status, found.body.map((r: { version: string }) => r.version)]).toEqual([200, ['1.0.1']]);
    expect((await owner.client.get(`/api/v1/projects/${projectId}/releases?version=9.9.9`)).body).toEqual([]);
    const bad = await owner.client.get(`/api/v1/projects/${projectId}/releases?version=${encodeURIComponent('no spaces')}`);
    expect([bad.status, bad.body.error.code]).toEqual([422, 'VALIDATION_FAILED']);
    expect(bad.body.error.message).toMatch(/version must be 1-64 letters/);
  });

  it('keeps the snapshot of its process version, whatever happens to the process later', async () => {
    await owner.client.put(`/api/v1/projects/${projectId}/process`, { steps: [step('migrate'), step('deploy', 'echo v1')] });
    const release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, { version: 'snapshot' })).body;
    await owner.client.put(`/api/v1/projects/${projectId}/process`, { steps: [step('deploy', 'echo v2')] });
    const got = await owner.client.get(`/api/v1/releases/${release.id}`);
    expect(got.status).toBe(200);
    expect(got.body.processVersion).toBe(2);
    expect(got.body.steps.map((s: { name: string; script: { body: string } }) => `${s.name}: ${s.script.body}`)).toEqual(['migrate: echo hi', 'deploy: echo v1']);
  });

  it('says where its lifecycle lets it go: the first phase, before any deployment', async () => {
    const release = (await owner.client.get(`/api/v1/projects/${projectId}/releases`)).body[0];
    const got = (await owner.client.get(`/api/v1/releases/${release.id}`)).body;
    expect(got.lifecycle.name).toBe('Default lifecycle');
    expect(got.deployments).toEqual([]);
    expect(got.progress.allowed.map((e: { name: string }) => e.name)).toEqual(['Dev']);
    expect(got.progress.phases.map((p: { name: string; open: boolean }) => `${p.name}:${p.open}`)).toEqual(['Dev:true', 'Prod:false']);
  });

  it('lets operators make releases, viewers only read; another organisation gets 404', async () => {
    const viewer = await makeMember(app, owner, 'viewer');
    const operator = await makeMember(app, owner, 'operator');
    expect((await viewer.client.post(`/api/v1/projects/${projectId}/releases`, {})).status).toBe(403);
    const made = await operator.client.post(`/api/v1/projects/${projectId}/releases`, {});
    expect(made.status).toBe(201);
    expect((await viewer.client.get(`/api/v1/releases/${made.body.id}`)).status).toBe(200);
    const stranger = await signUp(app);
    for (const res of [
      await stranger.client.get(`/api/v1/releases/${made.body.id}`),
      await stranger.client.get(`/api/v1/projects/${projectId}/releases`),
      await stranger.client.post(`/api/v1/projects/${projectId}/releases`, {}),
    ])
      expect([res.status, res.body.error.code]).toEqual([404, 'NOT_FOUND']);
  });
});
