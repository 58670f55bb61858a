import { api, ApiError, onUnauthenticated, withQuery } from './api-client';

function answer(status: number, body?: unknown) {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: '',
    json: async () => {
      if (body === undefined) throw new SyntaxError('no body');
      return body;
    },
  };
}

describe('api', () => {
  const fetchMock = jest.fn();
  beforeEach(() => {
    fetchMock.mockReset();
    globalThis.fetch = fetchMock as unknown as typeof fetch;
  });

  it('sends JSON and returns the parsed answer', async () => {
    fetchMock.mockResolvedValue(answer(201, { id: 'x' }));
    await expect(api('/api/v1/things', { method: 'POST', body: { a: 1 } })).resolves.toEqual({ id: 'x' });
    const [path, init] = fetchMock.mock.calls[0];
    expect(path).toBe('/api/v1/things');
    expect(init).toMatchObject({ method: 'POST', body: '{"a":1}', credentials: 'same-origin' });
    expect(init.headers['content-type']).toBe('application/json');
  });

  it('throws the API error with its code and message', async () => {
    fetchMock.mockResolvedValue(answer(422, { error: { code: 'FINGERPRINT_MISMATCH', message: 'the verification code does not match' } }));
    const err = await api('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, code: 'FINGERPRINT_MISMATCH', message: 'the verification code does not match' });
  });

  it('makes a readable error of an answer that is not the API error shape', async () => {
    fetchMock.mockResolvedValue(answer(502));
    await expect(api('/x')).rejects.toMatchObject({ status: 502, message: expect.stringContaining('502') });
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'));
    await expect(api('/x')).rejects.toMatchObject({ code: 'NETWORK_ERROR' });
  });

  it('tells listeners when the session is gone', async () => {
    const listener = jest.fn();
    const stop = onUnauthenticated(listener);
    fetchMock.mockResolvedValue(answer(401, { error: { code: 'UNAUTHENTICATED', message: 'log in first' } }));
    await expect(api('/x')).rejects.toBeInstanceOf(ApiError);
    expect(listener).toHaveBeenCalledTimes(1);
    stop();
  });

  it('returns nothing for 204', async () => {
    fetchMock.mockResolvedValue(answer(204));
    await expect(api('/x', { method: 'DELETE' })).resolves.toBeUndefined();
  });
});

describe('withQuery', () => {
  it('leaves out empty values', () => {
    expect(withQuery('/api/v1/tasks', { state: '', agentId: 'a b', limit: 5, before: undefined })).toBe('/api/v1/tasks?agentId=a+b&limit=5');
    expect(withQuery('/api/v1/tasks', {})).toBe('/api/v1/tasks');
  });
});
