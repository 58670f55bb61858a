import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from './command-context';
import { doctor } from './doctor';
import { LineLogger } from './log';
import { StateStore } from './state-store';
import { FakeControlPlane } from './testing/fake-control-plane';
import { FakeProxy } from './testing/fake-proxy';

describe('doctor', () => {
  let cp: FakeControlPlane;
  let dir: string;
  let out: string[];
  let ctx: CommandContext;

  beforeEach(async () => {
    cp = await FakeControlPlane.start();
    dir = mkdtempSync(join(tmpdir(), 'corral-doctor-'));
    const store = new StateStore(dir);
    store.writeIdentity(cp.identity());
    store.writePrivateKey(cp.agentKey.privateKeyPem);
    out = [];
    ctx = { stdout: { write: (s: string) => out.push(s) }, logger: new LineLogger({ write: () => true }), env: {}, cwd: dir, home: dir, isRoot: false, systemPolicyPath: join(dir, 'none.json') };
  });
  afterEach(async () => {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints one ok line per check and exits 0 when all pass', async () => {
    expect(await doctor(ctx, { stateDir: dir })).toBe(0);
    const text = out.join('');
    expect(text).toMatch(/^ok {4}tcp {6}connected to 127\.0\.0\.1:\d+ in \d+ ms$/m);
    expect(text).toMatch(/^ok {4}clock {4}this host's clock is \d+\.\d s (ahead of|behind) the server/m);
    expect(text).toMatch(/^ok {4}auth {5}signed request accepted: agent "web-01" is pending approval/m);
    expect(text).not.toMatch(/^FAIL/m);
  });

  it('names the failing check and what to fix, and exits 1', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dead = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    await new Promise<void>((resolve) => server.close(() => resolve()));

    expect(await doctor(ctx, { stateDir: dir, server: [dead] })).toBe(1);
    const text = out.join('');
    expect(text).toMatch(/^FAIL {2}tcp {6}cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*is the control plane up/m);
    expect(text).toMatch(/^FAIL {2}auth /m);
  });

  it('checks the proxy when one applies', async () => {
    const proxy = await FakeProxy.start();
    try {
      expect(await doctor({ ...ctx, env: { HTTP_PROXY: proxy.url } }, { stateDir: dir })).toBe(0);
      expect(out.join('')).toMatch(new RegExp(`^ok {4}proxy {4}${proxy.url} tunnels to 127\\.0\\.0\\.1:\\d+$`, 'm'));
      proxy.refuseWith = '403 Forbidden';
      out.length = 0;
      expect(await doctor({ ...ctx, env: { HTTP_PROXY: proxy.url } }, { stateDir: dir })).toBe(1);
      expect(out.join('')).toMatch(/^FAIL {2}proxy {4}.*refused CONNECT .*403/m);
    } finally {
      await proxy.stop();
    }
  });

  it('reports an invalid policy as a failure', async () => {
    writeFileSync(join(dir, 'policy.json'), '{"frozen": 1}', { mode: 0o644 });
    expect(await doctor(ctx, { stateDir: dir })).toBe(1);
    expect(out.join('')).toMatch(/^FAIL {2}policy {3}local policy .*policy\.json is invalid/m);
  });
});
