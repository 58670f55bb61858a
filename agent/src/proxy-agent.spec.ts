import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_PATHS } from '../../src/protocol/messages';
import { AgentConnection } from './connection';
import { HttpClient } from './http-client';
import { buildHello } from './host-facts';
import { JobManager } from './jobs/job-manager';
import { LineLogger } from './log';
import { DEFAULT_POLICY } from './policy';
import { matchesNoProxy, proxyForUrl, proxySettingsFromEnv, redactProxyUrl } from './proxy-agent';
import { StateStore } from './state-store';
import { FakeControlPlane, waitFor } from './testing/fake-control-plane';
import { FakeProxy } from './testing/fake-proxy';

describe('NO_PROXY matching', () => {
  it.each([
    ['corral.example.com', 443, 'corral.example.com', true],
    ['corral.example.com', 443, 'example.com', true],
    ['corral.example.com', 443, '.example.com', true],
    ['corral.example.com', 443, '*.example.com', true],
    ['example.com', 443, '.example.com', true],
    ['badexample.com', 443, 'example.com', false],
    ['corral.example.com', 443, 'other.com, example.com', true],
    ['corral.example.com', 443, 'other.com example.com', true],
    ['corral.example.com', 443, '*', true],
    ['corral.example.com', 443, 'example.com:443', true],
    ['corral.example.com', 8443, 'example.com:443', false],
    ['CORRAL.Example.COM', 443, 'example.com', true],
    ['10.1.2.3', 443, '10.0.0.0/8', true],
    ['11.1.2.3', 443, '10.0.0.0/8', false],
    ['10.1.2.3', 443, '10.1.2.3', true],
    ['10.1.2.3', 443, '2.3', false],
    ['[::1]', 443, '::1', true],
    ['[::1]', 443, '[::1]:443', true],
    ['corral.example.com', 443, '', false],
  ])('%s:%i against "%s" → %s', (host, port, noProxy, expected) => {
    expect(matchesNoProxy(host, port, noProxy)).toBe(expected);
  });
});

describe('choosing a proxy', () => {
  it('reads lower case before upper case, as curl does', () => {
    expect(proxySettingsFromEnv({ https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1', HTTP_PROXY: 'http://plain:1', NO_PROXY: 'internal' })).toEqual({
      httpsProxy: 'http://lower:1',
      httpProxy: 'http://plain:1',
      noProxy: 'internal',
    });
  });

  it('uses HTTPS_PROXY for https and wss, HTTP_PROXY for http and ws, unless NO_PROXY matches', () => {
    const settings = { httpsProxy: 'http://secure-proxy:3128', httpProxy: 'plain-proxy:8080', noProxy: '.internal' };
    expect(proxyForUrl(new URL('https://corral.example.com'), settings)?.host).toBe('secure-proxy:3128');
    expect(proxyForUrl(new URL('wss://corral.example.com/api/agent/v1/ws'), settings)?.host).toBe('secure-proxy:3128');
    expect(proxyForUrl(new URL('http://corral.example.com'), settings)?.href).toBe('http://plain-proxy:8080/');
    expect(proxyForUrl(new URL('https://corral.internal'), settings)).toBeNull();
    expect(proxyForUrl(new URL('https://corral.example.com'), { httpsProxy: null, httpProxy: 'http://p:1', noProxy: '' })).toBeNull();
  });

  it('never shows proxy credentials', () => {
    expect(redactProxyUrl('http://alice:s3cret@proxy.corp:3128')).toBe('http://proxy.corp:3128');
    expect(redactProxyUrl('proxy.corp:3128')).toBe('http://proxy.corp:3128');
  });
});

describe('the CONNECT tunnel', () => {
  let cp: FakeControlPlane;
  let proxy: FakeProxy;
  let dir: string;
  beforeEach(async () => {
    cp = await FakeControlPlane.start();
    proxy = await FakeProxy.start();
    dir = mkdtempSync(join(tmpdir(), 'corral-proxy-'));
  });
  afterEach(async () => {
    await cp.stop();
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries plain requests, with credentials from the proxy URL', async () => {
    const withCredentials = proxy.url.replace('http://', 'http://alice:s%3Acret@');
    const client = new HttpClient({ env: { HTTP_PROXY: withCredentials } });
    try {
      const { serverTime } = await client.serverTime(cp.url);
      expect(Math.abs(serverTime - Date.now())).toBeLessThan(5_000);
      expect(proxy.connects[0]).toEqual({ authority: new URL(cp.url).host, authorization: `Basic ${Buffer.from('alice:s:cret').toString('base64')}` });
      expect(client.routeOf(new URL(cp.url))).toBe(`through proxy ${proxy.url}`);
    } finally {
      client.close();
    }
  });

  it('carries the WebSocket connection, and signed requests still verify', async () => {
    const lines: string[] = [];
    const controller = new AbortController();
    const logger = new LineLogger({ write: (s: string) => lines.push(s) });
    const jobs = new JobManager({ stateDir: dir, agentId: cp.agentId, agentName: cp.agentName, maxJobs: 1, policy: () => DEFAULT_POLICY, logger });
    jobs.init();
    const connection = new AgentConnection({
      identity: cp.identity(),
      servers: [cp.url],
      transport: 'ws',
      client: new HttpClient({ env: { http_proxy: proxy.url } }),
      signer: cp.signer(),
      hello: buildHello(DEFAULT_POLICY),
      logger,
      jobs,
      store: new StateStore(dir),
      timings: { backoff: { baseMs: 10, capMs: 50 } },
    });
    const done = connection.run(controller.signal);
    try {
      await waitFor(() => connection.status === 'pending', 'a status through the proxy');
      expect(proxy.connects.length).toBeGreaterThan(0);
      expect(cp.requests.find((r) => r.path === AGENT_PATHS.ws)?.verified).toBe(true);
      expect(lines.join('')).toContain(`connected over websocket to ${cp.url} through proxy ${proxy.url}`);
    } finally {
      controller.abort();
      await done;
      jobs.close();
    }
  });

  it('reports a proxy that refuses CONNECT, with what to do', async () => {
    proxy.refuseWith = '407 Proxy Authentication Required';
    const client = new HttpClient({ env: { HTTP_PROXY: proxy.url } });
    try {
      await expect(client.serverTime(cp.url)).rejects.toThrow(/refused CONNECT .*407.*the proxy wants credentials: put them in the proxy URL/);
    } finally {
      client.close();
    }
  });

  it('says the credentials were refused when the proxy URL had some, naming the user but never the password', async () => {
    proxy.refuseWith = '407 Proxy Authentication Required';
    const client = new HttpClient({ env: { HTTP_PROXY: proxy.url.replace('http://', 'http://ops%40corp:s3cr%3At@') } });
    try {
      const failure = client.serverTime(cp.url);
      await expect(failure).rejects.toMatchObject({ code: 'PROXY_REFUSED', message: expect.stringContaining('the proxy refused the credentials of user "ops@corp" in the proxy URL') });
      await expect(failure).rejects.not.toThrow(/s3cr/);
    } finally {
      client.close();
    }
  });
});
