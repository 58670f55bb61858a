import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENROLLMENT_SIGNER, fingerprintOf } from '../../src/protocol/identity';
import { AGENT_PATHS } from '../../src/protocol/messages';
import type { CommandContext } from './command-context';
import { enroll, formatEnrollment } from './enroll';
import { AgentError, ConfigError } from './errors';
import { LineLogger } from './log';
import { StateStore } from './state-store';
import { FakeControlPlane } from './testing/fake-control-plane';
import { FakeProxy } from './testing/fake-proxy';

const TOKEN = `crl_enr_${'a1B2'.repeat(10)}`;

describe('enroll', () => {
  let cp: FakeControlPlane;
  let dir: string;
  let logs: string[];
  let ctx: CommandContext;

  beforeEach(async () => {
    cp = await FakeControlPlane.start();
    dir = mkdtempSync(join(tmpdir(), 'corral-enroll-'));
    logs = [];
    ctx = { stdout: { write: () => true }, logger: new LineLogger({ write: (s: string) => logs.push(s) }), env: {}, cwd: dir, home: dir, isRoot: false, systemPolicyPath: join(dir, 'none.json') };
  });
  afterEach(async () => {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs the request with the new key, saves the identity and a 0600 key, and prints what to compare', async () => {
    const result = await enroll(ctx, { server: [cp.url], token: TOKEN, name: 'web-01', stateDir: join(dir, 'state') });
    const store = new StateStore(join(dir, 'state'));

    const seen = cp.requests.find((r) => r.path === AGENT_PATHS.enroll);
    expect(seen).toMatchObject({ agentId: ENROLLMENT_SIGNER, verified: true });
    const request = cp.enrollments[0];
    expect(request).toMatchObject({ token: TOKEN, name: 'web-01', policy: { source: 'default' } });
    expect(JSON.stringify(request)).not.toContain('PRIVATE KEY');

    expect(statSync(store.keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(store.dir).mode & 0o777).toBe(0o700);
    const identity = store.readIdentity();
    expect(identity).toMatchObject({ agentId: cp.agentId, name: 'web-01', servers: [cp.url], publicKey: request.publicKey, fingerprint: fingerprintOf(request.publicKey) });
    expect(identity?.serverKeys[0].keyId).toBe(cp.keyId);
    expect(store.readStatus()).toMatchObject({ status: 'pending', connected: false });

    const text = formatEnrollment(result, false);
    expect(text).toContain(`Agent ID           ${cp.agentId}`);
    expect(text).toContain(`Fingerprint        ${fingerprintOf(request.publicKey)}`);
    expect(text).toMatch(/Verification code {2}[0-9A-Z]{4}-[0-9A-Z]{4}/);
    expect(text).toContain('Compare the fingerprint and verification code above with the ones the Corral console shows');
    expect(text).toContain(`corral-agent run --state-dir ${join(dir, 'state')}`);
    expect(logs.join('')).not.toContain(TOKEN);
  });

  it('enrolls only when the answer carries the server key the install command pinned', async () => {
    const pinned = fingerprintOf(cp.serverKey.publicKey);
    const other = fingerprintOf(Buffer.alloc(32, 7).toString('base64'));
    await expect(enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'elsewhere'), serverKey: other })).rejects.toThrow(
      `the control plane answered with signing keys ${pinned}, not ${other} that the install command pinned: something other than your control plane answered`,
    );
    expect(new StateStore(join(dir, 'elsewhere')).readIdentity()).toBeNull();
    await expect(enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'bad'), serverKey: 'SHA256:short' })).rejects.toThrow('--server-key must be a key fingerprint like SHA256:');
    const result = await enroll({ ...ctx, env: { CORRAL_SERVER_KEY: pinned } }, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
    expect(result.identity.serverKeys.map((k) => k.fingerprint)).toEqual([pinned]);
  });

  it('prints exactly one JSON object with --json', async () => {
    const result = await enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state'), json: true });
    const out = formatEnrollment(result, true);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(out)).toEqual({ agentId: cp.agentId, fingerprint: result.identity.fingerprint, verificationCode: result.identity.verificationCode, status: 'pending' });
  });

  it('says when the control plane marks the enrollment as a conflict with an existing agent', async () => {
    const result = await enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
    const old = '0b6f3c1e-7a52-4c8e-9d41-2f0e5b7a9c13';
    const text = formatEnrollment({ ...result, response: { ...result.response, conflictsWith: old } }, false);
    expect(text).toContain(`already has an agent named "${result.response.name}" (${old})`);
  });

  it('refuses to overwrite an enrolled state dir, and says how to start over', async () => {
    await enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
    const key = readFileSync(join(dir, 'state', 'agent.key'), 'utf8');
    const again = enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
    await expect(again).rejects.toThrow(ConfigError);
    await expect(enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') })).rejects.toThrow(/already enrolled: .*identity\.json .*remove .*identity\.json and .*agent\.key/);
    expect(readFileSync(join(dir, 'state', 'agent.key'), 'utf8')).toBe(key);
    expect(cp.enrollments).toHaveLength(1);
  });

  it('reports a refused token with what to do, and keeps the key for the next attempt', async () => {
    cp.enrollAnswers.push({ status: 410, body: { error: { code: 'ENROLLMENT_TOKEN_EXPIRED', message: 'token expired at 2026-11-01' } } });
    const failure = enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
    await expect(failure).rejects.toThrow(AgentError);
    await expect(failure).rejects.toThrow('the enrollment token has expired (ENROLLMENT_TOKEN_EXPIRED: token expired at 2026-11-01); ask an administrator for a new one');
    const firstKey = cp.enrollments[0].publicKey;
    await enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
    expect(cp.enrollments[1].publicKey).toBe(firstKey);
  });

  it('stops at the first refusal from a proxy, which asking again would not change', async () => {
    const proxy = await FakeProxy.start();
    proxy.refuseWith = '407 Proxy Authentication Required';
    try {
      const failure = enroll({ ...ctx, env: { HTTP_PROXY: proxy.url.replace('http://', 'http://ops:wrong@') } }, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') });
      await expect(failure).rejects.toMatchObject({ code: 'PROXY_REFUSED', kind: 'fatal', message: expect.stringMatching(/^could not enroll: .*refused the credentials of user "ops"/) });
      expect(proxy.connects).toHaveLength(1);
      expect(logs.join('')).not.toMatch(/trying again/);
    } finally {
      await proxy.stop();
    }
  });

  it('checks the token and the name before sending anything', async () => {
    await expect(enroll(ctx, { server: [cp.url], token: 'not-a-token', stateDir: join(dir, 'state') })).rejects.toThrow('the enrollment token is malformed');
    await expect(enroll(ctx, { server: [cp.url], stateDir: join(dir, 'state') })).rejects.toThrow('an enrollment token is required');
    await expect(enroll(ctx, { server: [cp.url], token: TOKEN, name: 'web 01', stateDir: join(dir, 'state') })).rejects.toThrow('"web 01" cannot be an agent name');
    await expect(enroll(ctx, { token: TOKEN, stateDir: join(dir, 'state') })).rejects.toThrow('a control-plane URL is required');
    expect(cp.enrollments).toHaveLength(0);
  });

  it('refuses to start with an invalid local policy', async () => {
    writeFileSync(ctx.systemPolicyPath as string, '{"frozen": "yes"}', { mode: 0o644 });
    await expect(enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') })).rejects.toThrow(/local policy .*none\.json is invalid: frozen/);
  });

  it('refuses a server that recorded a different fingerprint', async () => {
    cp.enrollAnswers.push({
      status: 201,
      body: {
        agentId: cp.agentId,
        name: 'web-01',
        fingerprint: 'SHA256:somebody-else',
        verificationCode: 'AAAA-AAAA',
        status: 'pending',
        conflictsWith: null,
        serverKeys: cp.identity().serverKeys,
      },
    });
    await expect(enroll(ctx, { server: [cp.url], token: TOKEN, stateDir: join(dir, 'state') })).rejects.toThrow('do not approve it');
    expect(new StateStore(join(dir, 'state')).readIdentity()).toBeNull();
  });
});
