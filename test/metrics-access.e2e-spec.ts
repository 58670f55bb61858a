import { execFileSync } from 'node:child_process';
import { startTestApp, type TestApp } from './helpers/test-app';

// Without METRICS_TOKEN, /metrics answers only on loopback. The caller from elsewhere is a host in
// a network namespace this test makes itself (a veth pair, addresses of its own): nothing leaves
// the machine.

const n = process.pid % 250;
const NS = `corral-metrics-${process.pid}`;
const HOST_SIDE = `cmh${process.pid % 100000}`;
const NS_SIDE = `cmn${process.pid % 100000}`;
const HOST_ADDRESS = `10.231.${n}.1`;
const NS_ADDRESS = `10.231.${n}.2`;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const inNamespace = (...args: string[]) => execFileSync('ip', ['netns', 'exec', NS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });

describe('metrics without METRICS_TOKEN', () => {
  let app: TestApp;
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test makes a network namespace: run it as root (CI does)');
    ip('netns', 'add', NS);
    ip('link', 'add', HOST_SIDE, 'type', 'veth', 'peer', 'name', NS_SIDE);
    ip('link', 'set', NS_SIDE, 'netns', NS);
    ip('addr', 'add', `${HOST_ADDRESS}/30`, 'dev', HOST_SIDE);
    ip('link', 'set', HOST_SIDE, 'up');
    inNamespace('ip', 'addr', 'add', `${NS_ADDRESS}/30`, 'dev', NS_SIDE);
    inNamespace('ip', 'link', 'set', NS_SIDE, 'up');
    // Listens on the host side of the pair only, and on loopback through a second node on the same database.
    app = await startTestApp({ HOST: HOST_ADDRESS });
  });
  afterAll(async () => {
    await app?.close();
    try {
      ip('netns', 'del', NS); // takes its end of the pair, and so the pair, with it
    } catch {
      // never made
    }
  });

  it('refuses a caller from another address, saying how to allow it', () => {
    const answer = inNamespace('curl', '-s', '-w', '\\n%{http_code}', `http://${HOST_ADDRESS}:${new URL(app.url).port}/metrics`);
    const [body, status] = answer.split('\n');
    expect(status).toBe('403');
    expect(JSON.parse(body).error.message).toContain('without METRICS_TOKEN, metrics answer only on loopback');
  });

  it('answers on loopback', async () => {
    const local = await startTestApp({}, { url: app.databaseUrl, drop: async () => undefined });
    try {
      const res = await fetch(`${local.url}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('corral_');
    } finally {
      await local.close();
    }
  });
});
