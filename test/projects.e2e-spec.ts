import { makeMember, signUp, type SignedUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

const migrate = { name: 'migrate', kind: 'script', script: { syntax: 'sh', body: 'echo migrating' }, targetRoles: ['db'] };
const deploy = { name: 'deploy', kind: 'script', script: { syntax: 'bash', body: 'echo deploying' }, targetRoles: ['web'], maxParallelism: 1 };
const notify = { name: 'notify', kind: 'script', script: { syntax: 'sh', body: 'echo done' }, targetRoles: ['web'], condition: 'always' };

describe('projects and their deployment process', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
    for (const name of ['Dev', 'Prod']) expect((await owner.client.post('/api/v1/environments', { name })).status).toBe(201);
  });
  afterAll(() => app.close());

  it('creates projects with a slug made from the name (or given), on the default lifecycle unless told, audited', async () => {
    const shop = await owner.client.post('/api/v1/projects', { name: 'Web Shop!', description: 'the shop' });
    expect(shop.status).toBe(201);
    expect(shop.body).toMatchObject({ name: 'Web Shop!', slug: 'web-shop', description: 'the shop', lifecycleId: 'default' });
    const second = await owner.client.post('/api/v1/projects', { name: 'web shop 2', slug: 'web-shop' });
    expect([second.status, second.body.error.code]).toEqual([409, 'NAME_TAKEN']);
    expect(second.body.error.message).toContain('slug "web-shop"');
    const sameName = await owner.client.post('/api/v1/projects', { name: 'WEB SHOP!' });
    expect([sameName.status, sameName.body.error.code]).toEqual([409, 'NAME_TAKEN']);
    const webShop = await owner.client.post('/api/v1/projects', { name: 'Web-Shop' });
    expect(webShop.body.slug).toBe('web-shop-2');

    const lifecycle = (await owner.client.post('/api/v1/lifecycles', { name: 'Straight to Prod', phases: [{ name: 'Prod', environments: ['Prod'] }] })).body;
    const moved = await owner.client.patch(`/api/v1/projects/${shop.body.id}`, { lifecycleId: lifecycle.id, description: 'still the shop' });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ lifecycleId: lifecycle.id, description: 'still the shop' });
    const inUse = await owner.client.delete(`/api/v1/lifecycles/${lifecycle.id}`);
    expect([inUse.status, inUse.body.error.code]).toEqual([409, 'LIFECYCLE_IN_USE']);
    expect(inUse.body.error.message).toContain('"Web Shop!"');
    const unknown = await owner.client.patch(`/api/v1/projects/${shop.body.id}`, { lifecycleId: '00000000-0000-4000-8000-000000000000' });
    expect([unknown.status, unknown.body.error.code]).toEqual([422, 'UNKNOWN_LIFECYCLE']);
    expect((await owner.client.patch(`/api/v1/projects/${shop.body.id}`, { lifecycleId: null })).body.lifecycleId).toBe('default');
    expect((await owner.client.delete(`/api/v1/lifecycles/${lifecycle.id}`)).status).toBe(204);

    expect((await owner.client.get('/api/v1/projects')).body.map((p: { slug: string }) => p.slug).sort()).toEqual(['web-shop', 'web-shop-2']);
    expect((await owner.client.delete(`/api/v1/projects/${webShop.body.id}`)).status).toBe(204);
    expect((await owner.client.get(`/api/v1/projects/${webShop.body.id}`)).status).toBe(404);
    const actions = (await owner.client.get('/api/v1/audit-events?limit=50')).body.items.map((e: { action: string }) => e.action);
    for (const action of ['project.created', 'project.updated', 'project.deleted']) expect(actions).toContain(action);
  });

  it('keeps every saved process as a new version, with every default written out', async () => {
    const project = (await owner.client.post('/api/v1/projects', { name: 'Api' })).body;
    const empty = await owner.client.get(`/api/v1/projects/${project.id}/process`);
    expect(empty.body).toMatchObject({ version: 0, steps: [] });
    const first = await owner.client.put(`/api/v1/projects/${project.id}/process`, { steps: [migrate, deploy, notify] });
    expect(first.status).toBe(200);
    expect(first.body.version).toBe(1);
    expect(first.body.steps[1]).toEqual({
      name: 'deploy',
      kind: 'script',
      script: { syntax: 'bash', body: 'echo deploying' },
      targetRoles: ['web'],
      environments: [],
      condition: 'success',
      startWithPrevious: false,
      required: false,
      maxParallelism: 1,
      maxErrors: null,
      timeoutSeconds: 3600,
    });
    const manual = { name: 'approve', kind: 'manual', instructions: 'check the dashboards', environments: ['prod'] };
    const second = await owner.client.put(`/api/v1/projects/${project.id}/process`, { steps: [migrate, manual, deploy] });
    expect(second.body.version).toBe(2);
    expect(second.body.steps[1]).toMatchObject({ kind: 'manual', responsibleRole: 'admin', environments: [{ name: 'Prod' }], condition: 'success' });
    expect((await owner.client.get(`/api/v1/projects/${project.id}/process`)).body).toMatchObject({ version: 2, createdBy: owner.email });
    const audit = (await owner.client.get(`/api/v1/audit-events?action=process.updated&targetId=${project.id}`)).body.items;
    expect(audit.map((e: { details: { version: number } }) => e.details.version)).toEqual([2, 1]);
  });

  it('refuses a process that makes no sense, naming each problem', async () => {
    const project = (await owner.client.post('/api/v1/projects', { name: 'Bad' })).body;
    const put = (steps: unknown) => owner.client.put(`/api/v1/projects/${project.id}/process`, { steps });
    const dup = await put([migrate, { ...deploy, name: 'MIGRATE' }]);
    expect([dup.status, dup.body.error.code]).toEqual([422, 'INVALID_PROCESS']);
    expect(dup.body.error.message).toContain('step name "MIGRATE" is used twice');
    const first = await put([{ ...migrate, startWithPrevious: true }]);
    expect(first.body.error.message).toContain('it is the first');
    const env = await put([{ ...migrate, environments: ['Nowhere'] }]);
    expect([env.status, env.body.error.code]).toEqual([422, 'UNKNOWN_ENVIRONMENT']);
    for (const [steps, field] of [
      [[{ ...migrate, kind: 'teleport' }], 'steps.0.kind'],
      [[{ ...migrate, targetRoles: [] }], 'steps.0.targetRoles'],
      [[{ ...migrate, script: { syntax: 'cobol', body: 'x' } }], 'steps.0.script.syntax'],
      [[{ ...migrate, maxParallelism: 0 }], 'steps.0.maxParallelism'],
      [[{ name: 'ask', kind: 'manual' }], 'steps.0.instructions'],
      [[{ ...migrate, condition: 'sometimes' }], 'steps.0.condition'],
      ['all', 'steps'],
    ] as const) {
      const res = await put(steps);
      expect([res.status, res.body.error.code]).toEqual([422, 'VALIDATION_FAILED']);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    expect((await owner.client.get(`/api/v1/projects/${project.id}/process`)).body.version).toBe(0);
  });

  it('needs admin to change projects and processes; another organisation gets 404', async () => {
    const project = (await owner.client.post('/api/v1/projects', { name: 'Guarded' })).body;
    const operator = await makeMember(app, owner, 'operator');
    expect((await operator.client.get(`/api/v1/projects/${project.id}/process`)).status).toBe(200);
    expect((await operator.client.post('/api/v1/projects', { name: 'Nope' })).status).toBe(403);
    expect((await operator.client.put(`/api/v1/projects/${project.id}/process`, { steps: [] })).status).toBe(403);
    const stranger = await signUp(app);
    expect((await stranger.client.get('/api/v1/projects')).body).toEqual([]);
    for (const res of [
      await stranger.client.get(`/api/v1/projects/${project.id}`),
      await stranger.client.patch(`/api/v1/projects/${project.id}`, { name: 'Mine' }),
      await stranger.client.delete(`/api/v1/projects/${project.id}`),
      await stranger.client.get(`/api/v1/projects/${project.id}/process`),
      await stranger.client.put(`/api/v1/projects/${project.id}/process`, { steps: [migrate] }),
    ])
      expect([res.status, res.body.error.code]).toEqual([404, 'NOT_FOUND']);
    // The same name is free in another organisation.
    expect((await stranger.client.post('/api/v1/projects', { name: 'Guarded' })).status).toBe(201);
  });
});
