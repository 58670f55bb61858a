import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentProcess, deadPort, enrollAgent, removeTempDirs, runApprovedAgent, spawnAgent, stopAllAgents, tempDir } from './helpers/agent-process';
import { type ControlPlaneProcess, ROOT, startControlPlane } from './helpers/control-plane-process';
import { signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// The `corral` CLI as a pipeline runs it: a shell with the command on its PATH and nothing but
// CORRAL_URL and CORRAL_API_KEY set, against a real control plane and real agents.

const CLI = join(ROOT, 'cli', 'dist', 'corral.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

afterAll(async () => {
  await stopAllAgents();
  removeTempDirs();
});

describe('the corral CLI', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cp: ControlPlaneProcess;
  let owner: SignedUp;
  let apiKey: string;
  const home = tempDir('corral-cli-home-');
  const bin = join(home, 'bin');
  const breaker = join(home, 'broken');
  const agents: AgentProcess[] = [];
  /** The agent approved through the CLI. */
  let web = '';

  /** `script` in bash, as a CI job's step runs it; `env` replaces the pipeline's secrets. */
  function shell(script: string, env: Record<string, string> = { CORRAL_URL: cp.url, CORRAL_API_KEY: apiKey }, input = ''): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn('bash', ['-c', script], { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.on('error', () => undefined); // a command that never reads its input
      child.stdin.end(input);
    });
  }

  beforeAll(async () => {
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node')); // the node that runs the tests
    db = await createTestDatabase();
    cp = await startControlPlane({ DATABASE_URL: db.url, PORT: String(await deadPort()), JOB_REQUERY_SECONDS: '1' });
    // As a pipeline gets it: one file, from the control plane it talks to.
    const fetched = await shell('curl -fsS -o ~/bin/corral "$CORRAL_URL/downloads/corral.js" && chmod +x ~/bin/corral && corral --version', { CORRAL_URL: cp.url });
    expect([fetched.code, fetched.stdout]).toEqual([0, expect.stringMatching(/^corral \d+\.\d+\.\d+\n$/)]);
    expect(readFileSync(join(bin, 'corral'))).toEqual(readFileSync(CLI));
    const missing = await shell('curl -s -o /dev/null -w "%{http_code}" "$CORRAL_URL/downloads/corral.exe"', { CORRAL_URL: cp.url });
    expect(missing.stdout).toBe('404');
    owner = await signUp({ client: () => new HttpClient(cp.url) });
    apiKey = (await owner.client.post('/api/v1/api-keys', { name: 'pipeline', role: 'admin' })).body.key;
    expect((await owner.client.post('/api/v1/environments', { name: 'Dev' })).status).toBe(201);
    const project = (await owner.client.post('/api/v1/projects', { name: 'Shop' })).body;
    const body = `echo "deployed $CORRAL_RELEASE on $CORRAL_AGENT_NAME"; if [ -e "${breaker}" ]; then echo "disk full" >&2; exit 4; fi`;
    const deployProcess = { steps: [{ name: 'deploy', kind: 'script', script: { syntax: 'bash', body }, targetRoles: ['web'] }] };
    expect((await owner.client.put(`/api/v1/projects/${project.id}/process`, deployProcess)).status).toBe(200);
    agents.push(await runApprovedAgent(owner, cp.url, 'web-2', { environments: ['Dev'], roles: ['db'] }));
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
    await db?.drop();
  });

  it('approves a pending agent by the code it printed, then lists it online', async () => {
    const enrolled = await enrollAgent(owner, [cp.url]);
    const pending = await shell('corral agents list --status pending --output json');
    expect(JSON.parse(pending.stdout).map((a: { name: string }) => a.name)).toEqual([enrolled.name]);
    const wrong = await shell(`corral agents approve ${enrolled.name} --code AAAA-AAAA`);
    expect([wrong.code, wrong.stderr]).toEqual([3, expect.stringContaining('does not match')]);
    const ok = await shell(`corral agents approve ${enrolled.name} --code ${enrolled.verificationCode} --environment Dev --role web`);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`approved ${enrolled.name}`);
    const run = spawnAgent(['run', '--state-dir', enrolled.stateDir, '--transport', 'ws']);
    agents.push(run);
    await run.waitForOutput(/approved: agent/);
    web = enrolled.name;
    const list = await shell('corral agents list');
    expect(list.stdout).toMatch(new RegExp(`${enrolled.name}\\s+approved\\s+online \\(websocket\\)\\s+Dev\\s+web`));
  });

  it('creates a release and deploys it with --wait: exit 0 with the log, then 1 naming the failing step', async () => {
    const good = await shell('set -e; corral release create --project Shop --version 1.4.0; corral release deploy --project Shop --version 1.4.0 --to Dev --wait');
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('created release 1.4.0 of Shop');
    expect(good.stdout).toMatch(/^deploy web-\w+ \| deployed 1\.4\.0 on web-\w+$/m);
    expect(good.stderr).toContain('deployment succeeded');

    writeFileSync(breaker, '');
    const bad = await shell('set -e; corral release create --project shop --notes "second try"; corral release deploy --project Shop --to Dev --wait');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('created release 1.4.1 of Shop');
    expect(bad.stderr).toMatch(/^deploy web-\w+ \| disk full$/m);
    expect(bad.stderr).toMatch(/deployment failed: step "deploy" failed on web-\w+ with exit code 4/);

    // --output json: stdout is one document, the log goes to stderr.
    const json = await shell('corral release deploy --project Shop --version 1.4.0 --to Dev --wait --output json');
    expect(json.code).toBe(1); // the breaker is still there
    expect(JSON.parse(json.stdout)).toMatchObject({ state: 'failed', release: { version: '1.4.0' }, steps: [{ name: 'deploy', state: 'failed' }] });
    expect(json.stderr).toContain('disk full');

    const list = await shell('corral deployments list --project Shop --output json');
    expect(JSON.parse(list.stdout).map((d: { release: { version: string }; state: string }) => `${d.release.version} ${d.state}`)).toEqual(['1.4.0 failed', '1.4.1 failed', '1.4.0 succeeded']);

    const missing = await shell('corral release deploy --project Shop --version 9.9.9 --to Dev');
    expect([missing.code, missing.stderr.trim()]).toEqual([2, expect.stringContaining('project "Shop" has no release 9.9.9 (latest: 1.4.1, 1.4.0)')]);
  });

  it('runs a script on agents by name, exiting with how it went', async () => {
    const ok = await shell(`corral run --agent ${web} --agent web-2 -- 'echo "hello from $CORRAL_AGENT_NAME"'`);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^web-2 \| hello from web-2$/m);
    const failed = await shell("corral run --agent web-2 -- 'echo nope; exit 3'");
    expect([failed.code, failed.stdout]).toEqual([1, 'nope\n']);
    expect(failed.stderr).toMatch(/^task \S+ on web-2\nrunning bash as .*\nexit code 3 after [\d.]+ s\nweb-2: failed with exit code 3\n$/);
  });

  it('says what was wrong: usage (2), a refusal or an unreachable server (3)', async () => {
    const typo = await shell('corral release deploy --project Shop --to Dev --wiat');
    expect([typo.code, typo.stderr]).toEqual([2, expect.stringContaining('unknown option --wiat (did you mean --wait?)')]);
    const unknown = await shell('corral release deploy --project Shoe --to Dev');
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining('no project "Shoe"; there are: Shop')]);
    const noEnv = await shell('corral release deploy --project Shop --to Nowhere');
    expect(noEnv.code).toBe(3);
    expect(noEnv.stderr).toMatch(/Nowhere/);
    const badKey = await shell('corral agents list', { CORRAL_URL: cp.url, CORRAL_API_KEY: 'crl_not-a-key' });
    expect(badKey.code).toBe(3);
    const nothing = await shell('corral agents list', { CORRAL_URL: `http://127.0.0.1:${await deadPort()}`, CORRAL_API_KEY: apiKey });
    expect([nothing.code, nothing.stderr]).toEqual([3, expect.stringContaining('is the control plane running, and is CORRAL_URL right?')]);
    const none = await shell('corral agents list', {});
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('no server: set CORRAL_URL')]);
  });

  it('logs in with a key on stdin and keeps it 0600; revokes an agent', async () => {
    const login = await shell(`corral login --url ${cp.url}`, {}, `${apiKey}\n`);
    expect(login.code).toBe(0);
    const saved = join(home, '.config', 'corral', 'config.json');
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    const revoke = await shell('corral agents revoke web-2 --reason "decommissioned" && corral agents list --status revoked --output json', {});
    expect(revoke.code).toBe(0);
    expect(JSON.parse(revoke.stdout.slice(revoke.stdout.indexOf('['))).map((a: { name: string }) => a.name)).toEqual(['web-2']);
    expect((await shell('corral logout && corral whoami', {})).code).toBe(2);
  });

  it('prints a completion script bash accepts', async () => {
    const r = await shell('source <(corral completion bash) && COMP_WORDS=(corral release de); COMP_CWORD=2; _corral && echo "${COMPREPLY[@]}"');
    expect([r.code, r.stdout.trim()]).toEqual([0, 'deploy']);
  });
});
