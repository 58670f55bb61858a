import { makeMember, signUp, type SignedUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

interface LifecycleView {
  id: string;
  name: string;
  isDefault: boolean;
  followsEnvironmentOrder: boolean;
  phases: { name: string; environments: { id: string; name: string }[]; minSuccessful: number | null; optional: boolean; autoDeploy: { name: string }[] }[];
}

describe('lifecycles', () => {
  let app: TestApp;
  let owner: SignedUp;
  const env: Record<string, string> = {};
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
    for (const name of ['Dev', 'Test', 'Prod']) env[name] = (await owner.client.post('/api/v1/environments', { name })).body.id;
  });
  afterAll(() => app.close());

  const phaseNames = (l: LifecycleView) => l.phases.map((p) => `${p.name}: ${p.environments.map((e) => e.name).join(',')}`);

  it('gives every organisation a default lifecycle: one phase per environment, in their order', async () => {
    const list = await owner.client.get('/api/v1/lifecycles');
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(1);
    const [byDefault] = list.body as LifecycleView[];
    expect(byDefault).toMatchObject({ isDefault: true, followsEnvironmentOrder: true });
    expect(phaseNames(byDefault)).toEqual(['Dev: Dev', 'Test: Test', 'Prod: Prod']);
    expect((await owner.client.post('/api/v1/environments/order', { ids: [env.Dev, env.Prod, env.Test] })).status).toBe(200);
    expect(phaseNames((await owner.client.get('/api/v1/lifecycles/default')).body)).toEqual(['Dev: Dev', 'Prod: Prod', 'Test: Test']);
    expect((await owner.client.get(`/api/v1/lifecycles/${byDefault.id}`)).body.isDefault).toBe(true);
    const deleted = await owner.client.delete('/api/v1/lifecycles/default');
    expect([deleted.status, deleted.body.error.code]).toEqual([409, 'LIFECYCLE_IS_DEFAULT']);
    await owner.client.post('/api/v1/environments/order', { ids: [env.Dev, env.Test, env.Prod] });
  });

  it('creates a lifecycle with phases by environment name or id, changes and deletes it, audited', async () => {
    const created = await owner.client.post('/api/v1/lifecycles', {
      name: 'Standard',
      phases: [
        { name: 'Build', environments: ['dev'], autoDeploy: ['Dev'] },
        { name: 'Testing', environments: [env.Test], optional: true },
        { name: 'Production', environments: ['Prod'], minSuccessful: 1 },
      ],
    });
    expect(created.status).toBe(201);
    const lifecycle = created.body as LifecycleView;
    expect(lifecycle).toMatchObject({ name: 'Standard', isDefault: false, followsEnvironmentOrder: false });
    expect(lifecycle.phases).toEqual([
      { name: 'Build', environments: [{ id: env.Dev, name: 'Dev' }], minSuccessful: null, optional: false, autoDeploy: [{ id: env.Dev, name: 'Dev' }] },
      { name: 'Testing', environments: [{ id: env.Test, name: 'Test' }], minSuccessful: null, optional: true, autoDeploy: [] },
      { name: 'Production', environments: [{ id: env.Prod, name: 'Prod' }], minSuccessful: 1, optional: false, autoDeploy: [] },
    ]);
    // A renamed environment shows under its new name; one a phase uses is not deleted.
    await owner.client.patch(`/api/v1/environments/${env.Test}`, { name: 'QA' });
    expect(phaseNames((await owner.client.get(`/api/v1/lifecycles/${lifecycle.id}`)).body)).toEqual(['Build: Dev', 'Testing: QA', 'Production: Prod']);
    const inUse = await owner.client.delete(`/api/v1/environments/${env.Test}`);
    expect([inUse.status, inUse.body.error.code]).toEqual([409, 'ENVIRONMENT_IN_USE']);
    expect(inUse.body.error.message).toContain('1 lifecycle');
    await owner.client.patch(`/api/v1/environments/${env.Test}`, { name: 'Test' });

    const changed = await owner.client.patch(`/api/v1/lifecycles/${lifecycle.id}`, {
      name: 'Two phases',
      phases: [
        { name: 'Early', environments: ['Dev', 'Test'] },
        { name: 'Late', environments: ['Prod'] },
      ],
    });
    expect(changed.status).toBe(200);
    expect(phaseNames(changed.body)).toEqual(['Early: Dev,Test', 'Late: Prod']);
    expect((await owner.client.delete(`/api/v1/lifecycles/${lifecycle.id}`)).status).toBe(204);
    expect((await owner.client.get(`/api/v1/lifecycles/${lifecycle.id}`)).status).toBe(404);
    const actions = (await owner.client.get('/api/v1/audit-events?limit=50')).body.items.map((e: { action: string }) => e.action);
    for (const action of ['lifecycle.created', 'lifecycle.updated', 'lifecycle.deleted']) expect(actions).toContain(action);
  });

  it('refuses phases that make no sense, saying what is wrong', async () => {
    const refused = async (body: unknown, code: string, message?: RegExp) => {
      const res = await owner.client.post('/api/v1/lifecycles', body);
      expect([res.status, res.body.error.code]).toEqual([code === 'VALIDATION_FAILED' || code === 'INVALID_LIFECYCLE' || code === 'UNKNOWN_ENVIRONMENT' ? 422 : 409, code]);
      if (message) expect(res.body.error.message).toMatch(message);
    };
    await refused({ name: 'X', phases: [{ name: 'A', environments: ['Nowhere'] }] }, 'UNKNOWN_ENVIRONMENT', /"Nowhere"/);
    await refused(
      {
        name: 'X',
        phases: [
          { name: 'A', environments: ['Dev'] },
          { name: 'B', environments: ['dev'] },
        ],
      },
      'INVALID_LIFECYCLE',
      /"Dev" is in phases "A" and "B"/,
    );
    await refused(
      {
        name: 'X',
        phases: [
          { name: 'A', environments: ['Dev'] },
          { name: 'a', environments: ['Prod'] },
        ],
      },
      'INVALID_LIFECYCLE',
      /phase "a" appears twice/,
    );
    await refused({ name: 'X', phases: [{ name: 'A', environments: ['Dev'], autoDeploy: ['Prod'] }] }, 'INVALID_LIFECYCLE', /auto-deploys to "Prod", which is not one of its environments/);
    await refused({ name: 'X', phases: [{ name: 'A', environments: ['Dev'], minSuccessful: 2 }] }, 'INVALID_LIFECYCLE', /needs 2 successful environments but has only 1/);
    await refused({ name: 'X', phases: [{ name: 'A', environments: [] }] }, 'VALIDATION_FAILED');
    await refused({ name: 'X', phases: [{ name: 'A', environments: ['Dev'], minSuccessful: 0 }] }, 'VALIDATION_FAILED');
    await refused({ name: 'X', phases: 'all' }, 'VALIDATION_FAILED');
    await refused({ phases: [] }, 'VALIDATION_FAILED');
    await refused({ name: 'default LIFECYCLE' }, 'NAME_TAKEN', /already exists/);
    expect((await owner.client.get('/api/v1/lifecycles/not-an-id')).status).toBe(400);
  });

  it('needs admin to change lifecycles; viewers see them; another organisation gets 404', async () => {
    const mine = (await owner.client.post('/api/v1/lifecycles', { name: 'Mine' })).body as LifecycleView;
    const viewer = await makeMember(app, owner, 'viewer');
    expect((await viewer.client.get('/api/v1/lifecycles')).status).toBe(200);
    expect((await viewer.client.post('/api/v1/lifecycles', { name: 'Nope' })).status).toBe(403);
    expect((await viewer.client.patch(`/api/v1/lifecycles/${mine.id}`, { name: 'Nope' })).status).toBe(403);
    expect((await viewer.client.delete(`/api/v1/lifecycles/${mine.id}`)).status).toBe(403);

    const stranger = await signUp(app);
    const theirs = (await stranger.client.get('/api/v1/lifecycles')).body as LifecycleView[];
    expect(theirs.map((l) => l.isDefault)).toEqual([true]);
    expect(JSON.stringify(theirs)).not.toContain(env.Dev);
    for (const res of [
      await stranger.client.get(`/api/v1/lifecycles/${mine.id}`),
      await stranger.client.patch(`/api/v1/lifecycles/${mine.id}`, { name: 'Taken' }),
      await stranger.client.delete(`/api/v1/lifecycles/${mine.id}`),
    ])
      expect([res.status, res.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const foreignEnv = await stranger.client.post('/api/v1/lifecycles', { name: 'Sneaky', phases: [{ name: 'A', environments: [env.Dev] }] });
    expect([foreignEnv.status, foreignEnv.body.error.code]).toEqual([422, 'UNKNOWN_ENVIRONMENT']);
    expect((await owner.client.get(`/api/v1/lifecycles/${mine.id}`)).body.name).toBe('Mine');
  });
});
