import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, waitFor } from './helpers/control-plane-process';
import { approve, enrollAgent, removeTempDirs, spawnAgent, stopAllAgents } from './helpers/agent-process';
import { signUp, type SignedUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

const run = promisify(execFile);

describe('server signing key rotation', () => {
  let app: TestApp;
  let owner: SignedUp;
  const serverKey = (...args: string[]) => run(process.execPath, [join(ROOT, 'dist', 'src', 'agents', 'server-keys-cli.js'), ...args], { env: { ...process.env, DATABASE_URL: app.databaseUrl } });
  beforeAll(async () => {
    app = await startTestApp();
    owner = await signUp(app);
  });
  afterAll(async () => {
    await stopAllAgents();
    removeTempDirs();
    await app.close();
  });

  it('hands trust to a new key through a message signed by the old one; agents keep working through every step', async () => {
    const agent = await enrollAgent(owner, [app.url]);
    await approve(owner, agent);
    const pinned = () => (JSON.parse(readFileSync(join(agent.stateDir, 'identity.json'), 'utf8')) as { serverKeys: { keyId: string }[] }).serverKeys.map((k) => k.keyId).sort();
    expect(pinned()).toEqual(['srv-1']);
    const agentRun = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await agentRun.waitForOutput(/approved: agent/);

    const rotated = await serverKey('rotate');
    expect(rotated.stdout).toMatch(/published srv-2 .* signed by srv-1/);
    await agentRun.waitForOutput(/rotated its signing keys: this agent now trusts srv-2 .*srv-1/);
    await waitFor('identity.json to pin both keys', () => (pinned().join() === 'srv-1,srv-2' ? true : undefined));

    expect((await serverKey('activate', 'srv-2')).stdout).toMatch(/srv-2 signs from now on/);
    // Work offered under the new key is trusted and runs.
    const waitDone = async (id: string) => waitFor('task done', async () => ((await owner.client.get(`/api/v1/tasks/${id}`)).body.state === 'succeeded' ? true : undefined));
    const signedByNew = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'echo new key' } });
    await waitDone(signedByNew.body.id);

    expect((await serverKey('retire', 'srv-1')).stdout).toMatch(/retired srv-1/);
    await expect(serverKey('retire', 'srv-2')).rejects.toMatchObject({ stderr: expect.stringMatching(/srv-2 is the only active key/) });
    await waitFor('the agent to drop srv-1', () => (pinned().join() === 'srv-2' ? true : undefined));
    expect((await serverKey('list')).stdout).toMatch(/srv-1\tSHA256:\S+\tretired .*\nsrv-2\tSHA256:\S+\tactive \(signs\)/);

    // After a restart the agent trusts only what it saved, and still works.
    agentRun.child.kill('SIGTERM');
    await agentRun.waitForExit(10_000);
    const again = spawnAgent(['run', '--state-dir', agent.stateDir]);
    await again.waitForOutput(/approved: agent/);
    const afterRestart = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'true' } });
    await waitDone(afterRestart.body.id);
    expect(again.output).not.toMatch(/ignored a message/);
  });
});
