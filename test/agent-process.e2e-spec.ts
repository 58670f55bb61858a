import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './helpers/control-plane-process';
import {
  type AgentProcess,
  approve,
  deadPort,
  enrollAgent,
  enrollmentToken,
  newStateDir,
  removeTempDirs,
  runAgentCommand,
  spawnAgent,
  stopAllAgents,
  agentView,
  waitOnline,
} from './helpers/agent-process';
import { signUp, type SignedUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

// The real agent program (agent/dist/corral-agent.js) against real control-plane processes:
// what an operator types on the host and what an admin sees in the API.

/** Exit code and output together, so a failed expectation shows what the agent said. */
function outcome(agent: AgentProcess) {
  return { exitCode: agent.exitCode, output: agent.output };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

afterEach(() => stopAllAgents());
afterAll(() => removeTempDirs());

describe('the agent program against a control plane', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
  });
  afterAll(() => app?.close());

  it('enroll --json prints one JSON object, keeps the key private, and never overwrites an identity', async () => {
    const stateDir = newStateDir();
    const name = `web-${randomBytes(3).toString('hex')}`;
    // Two uses, so that a second enrollment could succeed if the agent let it through.
    const token = await enrollmentToken(owner, { maxUses: 2 });
    const args = ['enroll', '--server', app.url, '--token', token, '--name', name, '--state-dir', stateDir, '--json'];

    const first = await runAgentCommand(args);
    expect(outcome(first)).toMatchObject({ exitCode: 0 });
    const lines = first.stdout.split('\n');
    expect(lines).toHaveLength(2); // one line, newline-terminated
    expect(lines[1]).toBe('');
    const printed = JSON.parse(lines[0]);
    expect(Object.keys(printed).sort()).toEqual(['agentId', 'fingerprint', 'status', 'verificationCode']);
    expect(printed.status).toBe('pending');
    expect(printed.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(printed.verificationCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(first.output).not.toContain(token);

    const keyPath = join(stateDir, 'agent.key');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    const key = readFileSync(keyPath, 'utf8');
    expect(key).toContain('PRIVATE KEY');
    const identity = readFileSync(join(stateDir, 'identity.json'), 'utf8');

    // The admin sees the very fingerprint and code the agent printed on its host.
    const pending = await owner.client.get('/api/v1/agents?status=pending');
    expect(pending.status).toBe(200);
    const listed = pending.body.items.filter((a: { name: string }) => a.name === name);
    expect(listed).toEqual([expect.objectContaining({ id: printed.agentId, status: 'pending', fingerprint: printed.fingerprint, verificationCode: printed.verificationCode })]);

    const again = await runAgentCommand(args);
    expect(outcome(again)).toMatchObject({ exitCode: 2 });
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/already enrolled/);
    expect(again.stderr).toContain(printed.agentId);
    expect(readFileSync(keyPath, 'utf8')).toBe(key);
    expect(readFileSync(join(stateDir, 'identity.json'), 'utf8')).toBe(identity);
    expect((await owner.client.get('/api/v1/agents')).body.items.filter((a: { name: string }) => a.name === name)).toHaveLength(1);
  });

  it('run waits while pending, stays pending after a wrong fingerprint, and works over WebSocket once approved with the code', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir]);
    const waiting = await run.waitForOutput(/waiting for approval: [^\n]*\n/);
    expect(waiting[0]).toContain(agent.fingerprint);
    expect(waiting[0]).toContain(`verification code ${agent.verificationCode}`);

    const wrong = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: `SHA256:${'A'.repeat(43)}` });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('FINGERPRINT_MISMATCH');
    expect((await agentView(owner, agent.agentId)).status).toBe('pending');
    expect(run.running).toBe(true);
    expect(run.output).not.toMatch(/approved:/);

    const ok = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: agent.verificationCode });
    expect(ok.status).toBe(200);
    await run.waitForOutput(new RegExp(`approved: agent "${agent.name}" is ready for work \\(approved by ${escape(owner.email)}\\)`), 5_000);
    await waitOnline(owner, agent.agentId, 'websocket');
    expect((await agentView(owner, agent.agentId)).status).toBe('approved');
    expect(run.running).toBe(true);
  });

  it('run --transport poll connects over HTTP long-poll and learns of its approval there', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir, '--transport', 'poll']);
    await run.waitForOutput(new RegExp(`connected over HTTP long-poll to ${escape(app.url)}`));
    await run.waitForOutput(/waiting for approval/);

    await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { fingerprint: agent.fingerprint });
    await run.waitForOutput(new RegExp(`approved: agent "${agent.name}" is ready for work`), 5_000);
    await waitOnline(owner, agent.agentId, 'long-poll');
    expect(run.output).not.toMatch(/websocket/i);

    // The held poll is answered at once with the revocation.
    const revokedAt = Date.now();
    expect((await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, { reason: 'moved to new hardware' })).status).toBe(200);
    expect(await run.waitForExit(5_000)).toBe(3);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect(run.stderr).toMatch(new RegExp(`agent "${agent.name}" was revoked: revoked by ${escape(owner.email)}: moved to new hardware`));
  });

  it('a revoked agent that comes back over long-poll is refused with exit code 3', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    expect((await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, { reason: 'key leaked' })).status).toBe(200);

    const run = await runAgentCommand(['run', '--state-dir', agent.stateDir, '--transport', 'poll'], 10_000);
    expect(outcome(run)).toMatchObject({ exitCode: 3 });
    expect(run.stderr).toMatch(new RegExp(`agent "${agent.name}" was revoked: revoked by ${escape(owner.email)}: key leaked`));
  });

  it('a revoked agent that comes back over long-poll never shows online, and the console says it was refused', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    expect((await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, { reason: 'key leaked' })).status).toBe(200);

    const run = await runAgentCommand(['run', '--state-dir', agent.stateDir, '--transport', 'poll'], 10_000);
    expect(run.exitCode).toBe(3);
    expect((await agentView(owner, agent.agentId)).connection).toMatchObject({ state: 'offline', transport: null, lastError: expect.stringMatching(/AGENT_REVOKED/) });
  });

  it('a rejected agent stops with exit code 3 saying it was rejected, and cannot run again', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await run.waitForOutput(/waiting for approval/);

    const rejected = await owner.client.post(`/api/v1/agents/${agent.agentId}/reject`, { reason: 'not one of ours' });
    expect(rejected.status).toBe(200);
    expect(await run.waitForExit(5_000)).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`agent "${agent.name}" was rejected by an administrator: rejected by ${escape(owner.email)}: not one of ours`));

    const again = await runAgentCommand(['run', '--state-dir', agent.stateDir], 10_000);
    expect(outcome(again)).toMatchObject({ exitCode: 3 });
    expect(again.stderr).toMatch(new RegExp(`agent "${agent.name}" was rejected`));
  });

  it('revoking a connected agent ends its process within 5 s with exit code 3, naming who revoked it; it cannot come back; the audit log names both decisions', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await run.waitForOutput(/approved: agent/);
    await waitOnline(owner, agent.agentId, 'websocket');

    const revokedAt = Date.now();
    const revoked = await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, { reason: 'host decommissioned' });
    expect(revoked.status).toBe(200);
    expect(await run.waitForExit(5_000)).toBe(3);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect(run.stderr).toMatch(new RegExp(`agent "${agent.name}" was revoked: revoked by ${escape(owner.email)}: host decommissioned\\. It will not connect again`));

    const again = await runAgentCommand(['run', '--state-dir', agent.stateDir], 10_000);
    expect(outcome(again)).toMatchObject({ exitCode: 3 });
    expect(again.stderr).toMatch(new RegExp(`agent "${agent.name}" was revoked`));
    expect(again.stderr).toContain(owner.email);
    expect((await agentView(owner, agent.agentId)).connection.state).toBe('offline');

    const audit = await owner.client.get('/api/v1/audit-events?limit=200');
    expect(audit.status).toBe(200);
    const decisions = audit.body.items.filter((e: { targetId: string }) => e.targetId === agent.agentId);
    const actor = { actorType: 'user', actorId: owner.userId, actorLabel: owner.email };
    expect(decisions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ...actor, action: 'agent.approved', targetType: 'agent' }),
        expect.objectContaining({ ...actor, action: 'agent.revoked', targetType: 'agent', details: expect.objectContaining({ reason: 'host decommissioned' }) }),
      ]),
    );
  });

  it('SIGTERM disconnects a running approved WebSocket agent cleanly: exit code 0 at once, and the console shows it offline', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await run.waitForOutput(/approved: agent/);
    await waitOnline(owner, agent.agentId, 'websocket');

    run.child.kill('SIGTERM');
    // Well under the agent's 10 s "exiting anyway" deadline: the clean path, not the fallback.
    expect(await run.waitForExit(5_000)).toBe(0);
    expect(run.stderr).toMatch(/SIGTERM received: stopping/);
    expect(run.stderr).toMatch(/disconnected; agent stopped/);
    expect(run.stderr).not.toMatch(/exiting anyway/);
    await waitFor('the agent to show offline', async () => (await agentView(owner, agent.agentId)).connection.state === 'offline', 10_000);
    expect((await agentView(owner, agent.agentId)).status).toBe('approved');

    const status = await runAgentCommand(['status', '--state-dir', agent.stateDir]);
    expect(status.stdout).toMatch(/^Connection +not running/m);
  });

  it('SIGTERM during a held long-poll exits 0 at once', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir, '--transport', 'poll']);
    await run.waitForOutput(/approved: agent/);
    await waitOnline(owner, agent.agentId, 'long-poll');

    run.child.kill('SIGTERM');
    expect(await run.waitForExit(5_000)).toBe(0);
    expect(run.stderr).toMatch(/disconnected; agent stopped/);
    expect(run.stderr).not.toMatch(/exiting anyway/);
  });

  it('status shows identity, server, approval and connection; doctor passes every check against the running control plane', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    const before = await runAgentCommand(['status', '--state-dir', agent.stateDir]);
    expect(outcome(before)).toMatchObject({ exitCode: 0 });
    expect(before.stdout).toMatch(new RegExp(`^Agent +${agent.name} \\(${agent.agentId}\\)$`, 'm'));
    expect(before.stdout).toMatch(new RegExp(`^Fingerprint +${escape(agent.fingerprint)}$`, 'm'));
    expect(before.stdout).toMatch(new RegExp(`^Verification code +${agent.verificationCode}$`, 'm'));
    expect(before.stdout).toMatch(new RegExp(`^Server +${escape(app.url)}$`, 'm'));
    expect(before.stdout).toMatch(/^Approval +pending$/m);
    expect(before.stdout).toMatch(/^Connection +not running/m);

    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await run.waitForOutput(/approved: agent/);

    const during = await runAgentCommand(['status', '--state-dir', agent.stateDir]);
    expect(outcome(during)).toMatchObject({ exitCode: 0 });
    expect(during.stdout).toMatch(new RegExp(`^Approval +approved \\(approved by ${escape(owner.email)}\\)$`, 'm'));
    expect(during.stdout).toMatch(new RegExp(`^Connection +connected over websocket to ${escape(app.url)}`, 'm'));
    const json = await runAgentCommand(['status', '--state-dir', agent.stateDir, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      agentId: agent.agentId,
      name: agent.name,
      fingerprint: agent.fingerprint,
      servers: [app.url],
      status: 'approved',
      running: true,
      connected: true,
      transport: 'websocket',
    });

    const doctor = await runAgentCommand(['doctor', '--state-dir', agent.stateDir]);
    expect(outcome(doctor)).toMatchObject({ exitCode: 0 });
    const checks = doctor.stdout.trimEnd().split('\n');
    expect(checks.map((line) => line.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'ok identity',
      'ok policy',
      'ok server',
      'skip dns', // 127.0.0.1 is an address
      'ok tcp',
      'skip proxy',
      'skip tls', // plain http in tests
      'ok clock',
      'ok auth',
    ]);
    expect(doctor.stdout).toMatch(new RegExp(`^ok +auth +signed request accepted: agent "${agent.name}" is approved$`, 'm'));

    // And it does fail when the server is not there.
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const down = await runAgentCommand(['doctor', '--state-dir', agent.stateDir, '--server', dead]);
    expect(outcome(down)).toMatchObject({ exitCode: 1 });
    expect(down.stdout).toMatch(/^FAIL +tcp +cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/m);
  });

  it('fails over to the second server when the first does not answer, at enrollment and when running', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const agent = await enrollAgent(owner, [dead, app.url]);
    expect(agent.log).toMatch(new RegExp(`enrollment with ${escape(dead)} failed: .*ECONNREFUSED.*; trying ${escape(app.url)}`));
    await approve(owner, agent);
    // No --server: run uses the servers recorded at enrollment, the dead one first.
    const run = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await run.waitForOutput(new RegExp(`connected over websocket to ${escape(app.url)}`), 10_000);
    expect(run.stderr).toMatch(new RegExp(`cannot connect over websocket to ${escape(dead)}: .*via ${escape(app.url)}`));
    await waitOnline(owner, agent.agentId, 'websocket');
  });
});

describe('the agent program against two control-plane nodes on one database', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startTestApp();
    b = await startTestApp({}, { url: a.databaseUrl, drop: async () => undefined });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it.each([
    ['websocket', 'websocket', []],
    ['long-poll', 'HTTP long-poll', ['--transport', 'poll']],
  ] as const)('an agent connected to node B over %s exits with code 3 within 5 s when revoked through node A', async (transport, words, flags) => {
    const owner = await signUp(a);
    const agent = await enrollAgent(owner, [b.url]);
    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir, ...flags]);
    await run.waitForOutput(new RegExp(`connected over ${words} to ${escape(b.url)}`));
    await run.waitForOutput(/approved: agent/);
    await waitOnline(owner, agent.agentId, transport);

    const revokedAt = Date.now();
    expect((await owner.client.post(`/api/v1/agents/${agent.agentId}/revoke`, {})).status).toBe(200);
    expect(await run.waitForExit(5_000)).toBe(3);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
    expect(run.stderr).toMatch(new RegExp(`agent "${agent.name}" was revoked: revoked by ${escape(owner.email)}`));
  });
});
