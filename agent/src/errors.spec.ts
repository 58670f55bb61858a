import { AgentError, classifyClose, classifyHttpResponse, classifyNetworkError, describeFatal, parseRetryAfter } from './errors';

const body = (code: string, message = 'details') => JSON.stringify({ error: { code, message } });

describe('error classification', () => {
  it.each([
    [403, 'AGENT_REVOKED', 'fatal', 3],
    [403, 'AGENT_REJECTED', 'fatal', 3],
    [401, 'AGENT_UNKNOWN', 'fatal', 1],
    [401, 'BAD_SIGNATURE', 'fatal', 1],
    [401, 'ENROLLMENT_TOKEN_INVALID', 'fatal', 1],
    [410, 'ENROLLMENT_TOKEN_EXPIRED', 'fatal', 1],
    [410, 'ENROLLMENT_TOKEN_REVOKED', 'fatal', 1],
    [410, 'ENROLLMENT_TOKEN_USED_UP', 'fatal', 1],
    [401, 'CLOCK_SKEW', 'retryable', 1],
    [401, 'REPLAYED_REQUEST', 'retryable', 1],
    [429, 'RATE_LIMITED', 'retryable', 1],
    [503, 'NOT_READY', 'retryable', 1],
  ])('HTTP %i %s is %s', (status, code, kind, exitCode) => {
    const error = classifyHttpResponse(status, {}, body(code), 'the long-poll');
    expect(error.kind).toBe(kind);
    expect(error.exitCode).toBe(exitCode);
    expect(error.message).toContain('details');
  });

  it('keeps the server code for fatal and skew errors, so the loop can act on it', () => {
    expect(classifyHttpResponse(403, {}, body('AGENT_REVOKED'), 'x').code).toBe('AGENT_REVOKED');
    expect(classifyHttpResponse(401, {}, body('CLOCK_SKEW', 'clock is 400 s ahead'), 'x')).toMatchObject({ code: 'CLOCK_SKEW', message: 'CLOCK_SKEW: clock is 400 s ahead' });
  });

  it('treats 5xx and 429 without a body as retryable, and reads Retry-After', () => {
    expect(classifyHttpResponse(502, {}, '<html>bad gateway</html>', 'x')).toMatchObject({ kind: 'retryable', code: 'SERVER_ERROR' });
    const limited = classifyHttpResponse(429, { 'retry-after': '17' }, '', 'x');
    expect(limited).toMatchObject({ kind: 'retryable', code: 'RATE_LIMITED' });
    expect(limited.retryAfterMs).toBe(17_000);
  });

  it('treats an answer that is not from Corral as retryable, with a hint', () => {
    const error = classifyHttpResponse(404, {}, 'Not Found', 'the long-poll');
    expect(error.kind).toBe('retryable');
    expect(error.message).toContain('is the server URL right');
  });

  it('parses Retry-After as seconds or an HTTP date, and caps it', () => {
    expect(parseRetryAfter('5')).toBe(5_000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1, 0, 0, 0))).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('999999')).toBe(3_600_000);
  });

  it('classifies WebSocket close codes', () => {
    expect(classifyClose(4003, 'AGENT_REVOKED: agent "web-01" was revoked by admin@x')).toMatchObject({ kind: 'fatal', code: 'AGENT_REVOKED', exitCode: 3 });
    expect(classifyClose(4003, 'AGENT_REJECTED: no')).toMatchObject({ kind: 'fatal', exitCode: 3 });
    expect(classifyClose(4003, '')).toMatchObject({ kind: 'fatal', code: 'AGENT_REFUSED', exitCode: 3 });
    expect(classifyClose(4001, 'BAD_SIGNATURE: nope')).toMatchObject({ kind: 'fatal', exitCode: 1 });
    expect(classifyClose(4001, 'AGENT_UNKNOWN: who?')).toMatchObject({ kind: 'fatal', exitCode: 1 });
    expect(classifyClose(4001, 'REPLAYED_REQUEST: seen')).toMatchObject({ kind: 'retryable' });
    expect(classifyClose(4008, 'CLOCK_SKEW: 412 s ahead')).toMatchObject({ kind: 'retryable', code: 'CLOCK_SKEW' });
    expect(classifyClose(4029, 'RATE_LIMITED: too many connections, retry-after=12')).toMatchObject({ kind: 'retryable', details: { retryAfterMs: 12_000 } });
    expect(classifyClose(4012, 'DRAINING: node going away')).toMatchObject({ kind: 'retryable', code: 'DRAINING' });
    expect(classifyClose(1006, '')).toMatchObject({ kind: 'retryable', code: 'NETWORK' });
    expect(classifyClose(1001, '')).toMatchObject({ kind: 'retryable', code: 'CLOSED' });
  });

  it('makes every network failure retryable, with a hint for the common ones', () => {
    const refused = classifyNetworkError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }), 'https://corral.example.com');
    expect(refused).toMatchObject({ kind: 'retryable', code: 'NETWORK' });
    expect(refused.message).toContain('nothing listens there');
    const untrusted = classifyNetworkError(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'https://x');
    expect(untrusted.message).toContain('--ca-file');
  });

  it('names certificate failures and proxy refusals, which asking again does not fix, by codes of their own', () => {
    const leaf = classifyNetworkError(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'https://x');
    expect(leaf).toMatchObject({ kind: 'retryable', code: 'TLS_CERTIFICATE' });
    expect(leaf.message).toBe(
      'cannot reach https://x: UNABLE_TO_VERIFY_LEAF_SIGNATURE unable to verify the first certificate (the certificate is not trusted: pass --ca-file or set CORRAL_CA_FILE to the CA bundle that signed it)',
    );
    expect(classifyNetworkError(Object.assign(new Error('Hostname/IP does not match'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'https://x').code).toBe('TLS_CERTIFICATE');
    const proxy = classifyNetworkError(Object.assign(new Error('proxy http://p:3128 refused CONNECT x:443: HTTP 407 Proxy Authentication Required'), { code: 'PROXY_407' }), 'https://x');
    expect(proxy).toMatchObject({
      kind: 'retryable',
      code: 'PROXY_REFUSED',
      message: 'cannot reach https://x: proxy http://p:3128 refused CONNECT x:443: HTTP 407 Proxy Authentication Required',
    });
    expect(classifyNetworkError(Object.assign(new Error('proxy http://p:3128 refused CONNECT x:443: HTTP 502 Bad Gateway'), { code: 'PROXY_502' }), 'https://x').code).toBe('NETWORK');
  });

  it('tells the operator what to do after a fatal error', () => {
    const files = { identity: '/var/lib/corral-agent/identity.json', key: '/var/lib/corral-agent/agent.key' };
    const revoked = describeFatal(new AgentError('AGENT_REVOKED', 'agent "web-01" was revoked by admin@x', 'fatal'), files, 'web-01');
    expect(revoked).toContain('was revoked');
    expect(revoked).toContain('remove /var/lib/corral-agent/identity.json and /var/lib/corral-agent/agent.key');
    expect(describeFatal(new AgentError('AGENT_REJECTED', 'no', 'fatal'), files, 'web-01')).toContain('rejected by an administrator');
  });
});
