import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './helpers/control-plane-process';
import { type AgentProcess, approve, enrollAgent, removeTempDirs, spawnAgent, stopAllAgents } from './helpers/agent-process';
import { makeApprovedAgent, signUp, type SignedUp } from './helpers/factories';
import { PROTOCOL_VERSION } from '../src/protocol/messages';
import { startTestApp, type TestApp } from './helpers/test-app';

// The host's sysadmin edits the local policy while the real agent program runs: the control plane
// must know within 5 s, without a restart or a reconnect, and judge the next work by it.

const REPORTED_WITHIN_MS = 5_000;

interface Task {
  id: string;
  state: string;
  jobs: { state: string; message: string | null }[];
}

/** Writes the policy as an editor saves it: a new file renamed over the old one. */
function savePolicy(stateDir: string, policy: string) {
  const copy = join(stateDir, '.policy.json.tmp');
  writeFileSync(copy, policy, { mode: 0o600 });
  renameSync(copy, join(stateDir, 'policy.json'));
}

afterEach(() => stopAllAgents());
afterAll(() => removeTempDirs());

describe('a local policy changed while the agent runs', () => {
  let app: TestApp;
  let owner: SignedUp;
  beforeAll(async () => {
    app = await startTestApp({ JOB_REQUERY_SECONDS: '1' });
    owner = await signUp(app);
  });
  afterAll(() => app?.close());

  async function runningAgent(transport: 'ws' | 'poll'): Promise<{ agentId: string; stateDir: string; run: AgentProcess }> {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    const run = spawnAgent(['run', '--state-dir', agent.stateDir, '--transport', transport]);
    await run.waitForOutput(/approved: agent/);
    await waitFor('the agent online', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.connection.state === 'online', 10_000);
    return { agentId: agent.agentId, stateDir: agent.stateDir, run };
  }

  /** Waits, at most REPORTED_WITHIN_MS after the edit, until the API shows a policy matching `shown`. */
  async function policyShown(agentId: string, editedAt: number, shown: (policy: Record<string, unknown> | null) => boolean) {
    const policy = await waitFor(
      'the new policy in the API',
      async () => {
        const { policy } = (await owner.client.get(`/api/v1/agents/${agentId}`)).body;
        return shown(policy) ? policy : undefined;
      },
      REPORTED_WITHIN_MS,
    );
    expect(Date.now() - editedAt).toBeLessThan(REPORTED_WITHIN_MS);
    return policy as Record<string, unknown>;
  }

  function postScript(agentId: string) {
    return owner.client.post('/api/v1/tasks', { targets: { agentIds: [agentId] }, script: { syntax: 'bash', body: 'echo ran under the new policy' } });
  }

  function ended(id: string): Promise<Task> {
    return waitFor(`task ${id} to end`, async () => {
      const res = await owner.client.get(`/api/v1/tasks/${id}`);
      return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(res.body.state) ? (res.body as Task) : undefined;
    });
  }

  it('over WebSocket: the API shows the new policy within 5 s, the next script is refused, and allowed again once the file allows it; each change is audited', async () => {
    const { agentId, stateDir, run } = await runningAgent('ws');
    expect((await owner.client.get(`/api/v1/agents/${agentId}`)).body.policy).toMatchObject({ source: 'default', allowScripts: true });
    const connections = (run.output.match(/connected over websocket/g) ?? []).length;

    const forbiddenAt = Date.now();
    savePolicy(stateDir, JSON.stringify({ allowScripts: false }));
    const forbidding = await policyShown(agentId, forbiddenAt, (p) => p?.allowScripts === false);
    expect(forbidding).toMatchObject({ source: join(stateDir, 'policy.json'), allowedJobKinds: ['script', 'deployment', 'health-check'], frozen: false });

    const refused = await postScript(agentId);
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'TARGETS_REFUSED']);
    expect(refused.body.error.message).toMatch(/scripts are not allowed by .*policy\.json \("allowScripts": false\)/);

    const allowedAt = Date.now();
    savePolicy(stateDir, JSON.stringify({ allowedJobKinds: ['script'] }));
    await policyShown(agentId, allowedAt, (p) => p?.allowScripts === true);
    const task = await postScript(agentId);
    expect(task.status).toBe(201);
    expect((await ended(task.body.id)).state).toBe('succeeded');

    // Neither a restart nor a reconnect was needed.
    expect(run.running).toBe(true);
    expect((run.output.match(/connected over websocket/g) ?? []).length).toBe(connections);
    expect(run.output).toMatch(/local policy changed: .*scripts forbidden/);

    const audit = await owner.client.get(`/api/v1/audit-events?targetId=${agentId}&action=agent.policy_changed&limit=10`);
    expect(audit.status).toBe(200);
    expect(audit.body.items).toHaveLength(2);
    expect(audit.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actorType: 'agent',
          actorId: agentId,
          targetType: 'agent',
          details: expect.objectContaining({ transport: 'websocket', from: expect.objectContaining({ source: 'default' }), to: expect.objectContaining({ allowScripts: false }) }),
        }),
      ]),
    );
  });

  it('over long-poll: an invalid policy is reported as refusing all work (the agent keeps running), and fixing it lets work through', async () => {
    const { agentId, stateDir, run } = await runningAgent('poll');

    const brokenAt = Date.now();
    savePolicy(stateDir, '{"frozn": true}');
    const broken = await policyShown(agentId, brokenAt, (p) => typeof p?.error === 'string');
    expect(broken).toMatchObject({ source: join(stateDir, 'policy.json'), frozen: true, allowedJobKinds: [], error: expect.stringContaining('unknown key "frozn"') });

    const refused = await postScript(agentId);
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'TARGETS_REFUSED']);
    expect(refused.body.error.message).toMatch(/runs no work until its local policy is fixed: .*unknown key "frozn"/);
    expect(run.running).toBe(true);
    expect(run.output).toMatch(/local policy changed: INVALID, so no work will run/);

    const fixedAt = Date.now();
    savePolicy(stateDir, '{"frozen": false}');
    await policyShown(agentId, fixedAt, (p) => p !== null && p.error === undefined && p.frozen === false);
    const task = await postScript(agentId);
    expect(task.status).toBe(201);
    expect((await ended(task.body.id)).state).toBe('succeeded');
    expect(run.output).not.toMatch(/connection to .* lost|reconnecting/);
  });

  it('a malformed policy report gets a clear error on either transport, never a 500; the same policy reported twice is recorded once', async () => {
    const agent = await makeApprovedAgent(
      app,
      owner,
      (a) => (a.policy = { source: 'default', allowedJobKinds: ['script'], allowScripts: true, runAs: null, allowedOrganizations: null, frozen: false }),
    );
    const bad = await agent.post([{ type: 'agent.policy', v: PROTOCOL_VERSION, policy: { source: 'x', frozen: 'yes' } } as never]);
    expect([bad.status, bad.body.error?.code]).toEqual([422, 'VALIDATION_FAILED']);
    expect(bad.text).toMatch(/policy/);

    const socket = await agent.connect();
    await socket.next('the status', (m) => m.type === 'signed');
    socket.send({ type: 'agent.policy', v: PROTOCOL_VERSION, policy: { allowedJobKinds: 'all' } } as never);
    const error = await socket.next('the error', (m) => (m.type === 'server.error' ? m : undefined));
    expect(error).toMatchObject({ code: 'BAD_MESSAGE', message: expect.stringMatching(/policy/) });

    const frozen = { source: '/etc/corral/agent-policy.json', allowedJobKinds: ['script'], allowScripts: true, runAs: null, allowedOrganizations: null, frozen: true };
    socket.send({ type: 'agent.policy', v: PROTOCOL_VERSION, policy: frozen });
    await waitFor('the frozen policy', async () => (await owner.client.get(`/api/v1/agents/${agent.agentId}`)).body.policy?.frozen === true);
    const again = await agent.post([{ type: 'agent.policy', v: PROTOCOL_VERSION, policy: frozen }]);
    expect(again.status).toBe(200);
    expect(socket.closed).toBeUndefined();
    const audit = await owner.client.get(`/api/v1/audit-events?targetId=${agent.agentId}&action=agent.policy_changed&limit=10`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].details).toMatchObject({ transport: 'websocket', to: frozen });
    socket.close();
  });
});
