import { makeApiKey, PASSWORD, signUp, uniqueEmail } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('signup, login, sessions and API keys', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it('signs up an organisation, sets an HttpOnly SameSite=Lax session cookie and knows the user', async () => {
    const client = app.client();
    const email = uniqueEmail();
    const res = await client.post('/api/v1/signup', { organization: 'Acme Ops', email, password: PASSWORD });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ user: { email }, organization: { name: 'Acme Ops', slug: 'acme-ops' }, role: 'owner' });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('corral_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).not.toMatch(/Secure/i);

    const me = await client.get('/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: { email }, organization: { name: 'Acme Ops' }, role: 'owner' });
  });

  it('refuses a second account for the same email with 409', async () => {
    const { email } = await signUp(app);
    const res = await app.client().post('/api/v1/signup', { organization: 'Other', email: email.toUpperCase(), password: PASSWORD });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('EMAIL_TAKEN');
  });

  it('names every bad field of a signup', async () => {
    const res = await app.client().post('/api/v1/signup', { organization: 'Acme', password: 'short' });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    const fields = res.body.error.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['email', 'password']));
    expect(res.body.error.message).toMatch(/email/);
  });

  it('rejects unknown fields by name', async () => {
    const res = await app.client().post('/api/v1/signup', { organization: 'Acme', email: uniqueEmail(), password: PASSWORD, admin: true });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ field: 'admin', problems: ['admin is not a known field; remove it'] }]);
  });

  it('logs in with the right password and gives the same 401 for a wrong password or an unknown email', async () => {
    const { email } = await signUp(app);
    const wrong = await app.client().post('/api/v1/auth/login', { email, password: 'not the password' });
    const unknown = await app.client().post('/api/v1/auth/login', { email: uniqueEmail(), password: PASSWORD });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.message).toBe('email or password is incorrect');

    const client = app.client();
    const ok = await client.post('/api/v1/auth/login', { email: email.toUpperCase(), password: PASSWORD });
    expect(ok.status).toBe(200);
    expect((await client.get('/api/v1/me')).status).toBe(200);
  });

  it('logs out: the session stops working', async () => {
    const { client } = await signUp(app);
    const token = client.cookie('corral_session')!;
    expect((await client.post('/api/v1/auth/logout')).status).toBe(204);
    const replay = app.client();
    const res = await replay.get('/api/v1/me', { cookie: `corral_session=${token}` });
    expect(res.status).toBe(401);
  });

  it('needs authentication for /me', async () => {
    const res = await app.client().get('/api/v1/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('creates an API key shown once, lists it without the secret, authenticates with it and revokes it', async () => {
    const owner = await signUp(app);
    const created = await owner.client.post('/api/v1/api-keys', { name: 'deploy bot' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^crl_[0-9A-Za-z]{40}$/);
    expect(created.body.role).toBe('owner');

    const list = await owner.client.get('/api/v1/api-keys');
    expect(list.body).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    expect(list.body[0]).toMatchObject({ id: created.body.id, name: 'deploy bot', prefix: created.body.key.slice(0, 10) });

    const bot = app.client().withBearer(created.body.key);
    const me = await bot.get('/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: { email: owner.email }, authenticatedBy: { type: 'api_key', name: 'deploy bot' } });

    expect((await owner.client.delete(`/api/v1/api-keys/${created.body.id}`)).status).toBe(204);
    const after = await bot.get('/api/v1/me');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('INVALID_API_KEY');
  });

  it('answers a bogus key with 401', async () => {
    for (const key of ['crl_bogus', 'nonsense', `crl_${'a'.repeat(40)}`]) {
      const res = await app.client().withBearer(key).get('/api/v1/me');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('INVALID_API_KEY');
    }
  });

  it('never gives a key more rights than its creator, now or later', async () => {
    const owner = await signUp(app);
    const viewerKey = await makeApiKey(app, owner, 'viewer');
    const refused = await viewerKey.client.post('/api/v1/api-keys', { name: 'escalate', role: 'admin' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('ROLE_TOO_HIGH');
    // A viewer key cannot reach admin routes even though its creator could.
    expect((await viewerKey.client.get('/api/v1/audit-events')).status).toBe(403);
  });

  it('refuses cookie-authenticated state changes from other sites; bearer keys are not affected', async () => {
    const owner = await signUp(app);
    const evil = await owner.client.post('/api/v1/api-keys', { name: 'csrf' }, { origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.body.error.code).toBe('CSRF_REJECTED');
    const crossSite = await owner.client.post('/api/v1/api-keys', { name: 'csrf' }, { 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const sameOrigin = await owner.client.post('/api/v1/api-keys', { name: 'ok' }, { origin: app.url, 'sec-fetch-site': 'same-origin' });
    expect(sameOrigin.status).toBe(201);
    const key = await makeApiKey(app, owner);
    const bearer = await key.client.post('/api/v1/api-keys', { name: 'from-ci' }, { origin: 'https://ci.example' });
    expect(bearer.status).toBe(201);
  });

  it('never writes passwords, session tokens or keys to the logs', async () => {
    const owner = await signUp(app);
    const key = await makeApiKey(app, owner);
    await key.client.get('/api/v1/me');
    const logs = app.logs();
    expect(logs).toContain('"path":"/api/v1/me"');
    expect(logs).not.toContain(PASSWORD);
    expect(logs).not.toContain(key.key);
    expect(logs).not.toContain(owner.client.cookie('corral_session'));
  });
});

describe('login rate limits', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '1000', AUTH_RATE_LIMIT_PER_ACCOUNT: '3', AUTH_RATE_LIMIT_WINDOW_SECONDS: '60' });
  });
  afterAll(() => app.close());

  it('limits attempts per account with 429 and Retry-After, even with the right password', async () => {
    const { email } = await signUp(app);
    for (let i = 0; i < 3; i++) expect((await app.client().post('/api/v1/auth/login', { email, password: 'wrong password!' })).status).toBe(401);
    const limited = await app.client().post('/api/v1/auth/login', { email, password: PASSWORD });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('limits attempts per IP across accounts and signups', async () => {
    const strict = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '2', AUTH_RATE_LIMIT_WINDOW_SECONDS: '60' });
    try {
      await strict.client().post('/api/v1/auth/login', { email: uniqueEmail(), password: PASSWORD });
      await strict.client().post('/api/v1/auth/login', { email: uniqueEmail(), password: PASSWORD });
      const res = await strict.client().post('/api/v1/signup', { organization: 'Late', email: uniqueEmail(), password: PASSWORD });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await strict.close();
    }
  });
});
