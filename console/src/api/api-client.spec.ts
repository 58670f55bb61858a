import { answer, pathOf } from '../../test/jsdom-fetch';
import { ApiError, del, get, onUnauthenticated, post, withQuery } from './api-client';

describe('api client', () => {
  const fetchMock = jest.fn<Promise<Response>, [Request]>();
  beforeEach(() => {
    fetchMock.mockReset();
    globalThis.fetch = fetchMock as unknown as typeof fetch;
  });

  it('sends JSON and returns the parsed answer', async () => {
    fetchMock.mockResolvedValue(answer(201, { id: 'x' }));
    await expect(post('/api/v1/projects/{id}/releases', { params: { path: { id: 'p 1' } }, body: { version: '1.0' } })).resolves.toEqual({ id: 'x' });
    const [request] = fetchMock.mock.calls[0];
    expect(pathOf(request)).toBe('/api/v1/projects/p%201/releases');
    expect(request.method).toBe('POST');
    expect(request.credentials).toBe('same-origin');
    expect(request.headers.get('content-type')).toBe('application/json');
    expect(request.headers.get('accept')).toBe('application/json');
    expect(await request.text()).toBe('{"version":"1.0"}');
  });

  it('sends the query, leaving out what is undefined', async () => {
    fetchMock.mockResolvedValue(answer(200, { items: [], nextBefore: null }));
    await get('/api/v1/tasks', { query: { agentId: 'a b', limit: 5, before: undefined } });
    expect(pathOf(fetchMock.mock.calls[0][0])).toBe('/api/v1/tasks?agentId=a%20b&limit=5');
  });

  it('throws the API error with its code and message', async () => {
    fetchMock.mockResolvedValue(answer(422, { error: { code: 'FINGERPRINT_MISMATCH', message: 'the verification code does not match' } }));
    const err = await get('/api/v1/me').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, code: 'FINGERPRINT_MISMATCH', message: 'the verification code does not match' });
  });

  it('makes a readable error of an answer that is not the API error shape', async () => {
    fetchMock.mockResolvedValue(answer(502));
    await expect(get('/api/v1/me')).rejects.toMatchObject({ status: 502, code: 'HTTP_ERROR', message: expect.stringContaining('502') });
    fetchMock.mockResolvedValue(new Response('<html>Bad gateway</html>', { status: 502 }));
    await expect(get('/api/v1/me')).rejects.toMatchObject({ status: 502, code: 'HTTP_ERROR' });
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'));
    await expect(get('/api/v1/me')).rejects.toMatchObject({ code: 'NETWORK_ERROR' });
  });

  it('lets an aborted call stay aborted', async () => {
    fetchMock.mockRejectedValue(new DOMException('The operation was aborted.', 'AbortError'));
    await expect(get('/api/v1/me')).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('tells listeners when the session is gone, not for a wrong password', async () => {
    const listener = jest.fn();
    const stop = onUnauthenticated(listener);
    fetchMock.mockResolvedValue(answer(401, { error: { code: 'UNAUTHENTICATED', message: 'log in first' } }));
    await expect(get('/api/v1/me')).rejects.toBeInstanceOf(ApiError);
    expect(listener).toHaveBeenCalledTimes(1);
    fetchMock.mockResolvedValue(answer(401, { error: { code: 'INVALID_CREDENTIALS', message: 'wrong email or password' } }));
    await expect(post('/api/v1/auth/login', { body: { email: 'a@b.c', password: 'x' } })).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(listener).toHaveBeenCalledTimes(1);
    stop();
  });

  it('returns nothing for 204', async () => {
    fetchMock.mockResolvedValue(answer(204));
    await expect(del('/api/v1/projects/{id}', { params: { path: { id: 'p1' } } })).resolves.toBeUndefined();
    expect(fetchMock.mock.calls[0][0].method).toBe('DELETE');
  });
});

describe('withQuery', () => {
  it('leaves out empty values', () => {
    expect(withQuery('/tasks', { state: '', agentId: 'a b', limit: 5, before: undefined })).toBe('/tasks?agentId=a+b&limit=5');
    expect(withQuery('/tasks', {})).toBe('/tasks');
  });
});
