import { signUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

describe('bad input at the HTTP edge', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ HTTP_BODY_LIMIT_BYTES: '4096' });
  });
  afterAll(() => app.close());

  it('answers malformed JSON with 400 in the one error shape', async () => {
    const res = await app.client().post('/api/v1/signup', '{"organization": "Acme", "email":');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'MALFORMED_JSON', message: 'the request body is not valid JSON' } });
  });

  it('answers a body over the limit with 413', async () => {
    const res = await app.client().post('/api/v1/signup', { organization: 'x'.repeat(10_000), email: 'a@b.test', password: 'p' });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.body.error.message).toContain('4096');
  });

  it('answers a non-JSON body with 415', async () => {
    const res = await app.client().post('/api/v1/signup', 'organization=Acme', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers an unknown route with 404 JSON', async () => {
    const res = await app.client().get('/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('ROUTE_NOT_FOUND');
    expect(res.body.error.message).toContain('/api/v1/nothing-here');
  });

  it('answers a JSON array, a string or null where an object is expected with a 4xx, never a 500', async () => {
    for (const body of ['[]', '"text"', 'null', '42', '{"organization": {"$ne": 1}, "email": ["a"], "password": 1}']) {
      const res = await app.client().post('/api/v1/signup', body);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.body.error).toBeDefined();
    }
  });

  it('answers a body nested too deep with 400, on every JSON route', async () => {
    // As deep as this app's 4 KiB body limit allows.
    const deep = `${'['.repeat(2_000)}${']'.repeat(2_000)}`;
    const owner = await signUp(app);
    for (const [client, path] of [
      [app.client(), '/api/v1/signup'],
      [app.client(), '/api/v1/auth/login'],
      [owner.client, '/api/v1/environments'],
    ] as const) {
      const res = await client.post(path, `{"name": ${deep}}`);
      expect([res.status, res.body.error.code]).toEqual([400, 'BODY_TOO_DEEP']);
    }
  });

  it('answers a NUL or a lone surrogate in a field with 422 naming the field, never a 500', async () => {
    const owner = await signUp(app);
    const cases: [string, Record<string, unknown>][] = [
      ['/api/v1/signup', { organization: 'Acme', email: 'a\u0000@b.test', password: 'long enough password' }],
      ['/api/v1/signup', { organization: 'Acme\ud800', email: 'x@b.test', password: 'long enough password' }],
      ['/api/v1/auth/login', { email: 'a@b.test', password: 'pass\u0000word' }],
      ['/api/v1/members', { email: '\ud800@b.test', role: 'viewer' }],
      ['/api/v1/environments', { name: 'Dev\u0000' }],
    ];
    for (const [path, body] of cases) {
      const res = await (path.startsWith('/api/v1/members') || path.startsWith('/api/v1/environments') ? owner.client : app.client()).post(path, JSON.stringify(body));
      expect([res.status, res.body.error.code]).toEqual([422, 'VALIDATION_FAILED']);
      expect(res.body.error.message).toMatch(/^\w+ must not contain (NUL characters|half of a UTF-16 surrogate pair)/);
    }
  });

  it('answers a malformed id with 400 and an unknown one with 404', async () => {
    const owner = await signUp(app);
    const bad = await owner.client.delete('/api/v1/api-keys/not-a-uuid');
    expect(bad.status).toBe(400);
    const missing = await owner.client.delete('/api/v1/api-keys/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('returns a request id on every response', async () => {
    const res = await app.client().get('/healthz');
    expect(res.headers.get('x-request-id')).toMatch(/^[\w-]+$/);
    const echoed = await app.client().get('/healthz', { 'x-request-id': 'trace-123' });
    expect(echoed.headers.get('x-request-id')).toBe('trace-123');
  });
});
