import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { deadPort, removeTempDirs, runApprovedAgent, stopAllAgents } from './helpers/agent-process';
import { type ControlPlaneProcess, ROOT, startControlPlane, TEST_SECRETS_KEY, waitFor } from './helpers/control-plane-process';
import { makeMember, signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// Variables as a new user tries them: values scoped per environment, a sensitive password that
// no API response, audit event, server log line or stored log ever shows, and scripts that use a
// name nothing defines never run.

const PASSWORD_VALUE = `pw-${randomBytes(6).toString('hex')}`;
const base64 = Buffer.from(PASSWORD_VALUE).toString('base64');
/** Known to the agents' environment only: a step makes it its sensitive output. */
const API_KEY = `ak-${randomBytes(8).toString('hex')}`;

afterAll(async () => {
  await stopAllAgents();
  removeTempDirs();
});

describe('variables', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cp: ControlPlaneProcess;
  let owner: SignedUp;
  let projectId: string;
  let setId: string;

  const step = (body: string, before: Record<string, unknown>[] = []) => ({ steps: [...before, { name: 'deploy', kind: 'script', script: { syntax: 'bash', body }, targetRoles: ['web'] }] });
  const SCRIPT = [
    'echo "host=#{DbHost} password=#{DbPassword}"',
    'echo "b64=$(printf %s \'#{DbPassword}\' | base64)"',
    'echo "conn=#{ConnectionString}"',
    'echo "#{Greeting} from #{Corral.Environment.Name} on #{Corral.Agent.Name}, release #{Corral.Release.Number}, literal ##{DbHost}"',
  ].join('\n');

  const agent = (name: string, environments: string[]) =>
    runApprovedAgent(
      owner,
      cp.url,
      name,
      { environments, roles: ['web'] },
      {
        env: { TEST_API_KEY: API_KEY, OTHER_SECRET: 'not-for-jobs' },
        // A job gets only what the host's policy lets through of the agent's environment.
        before: (stateDir) => writeFileSync(join(stateDir, 'policy.json'), JSON.stringify({ jobEnvironment: ['TEST_API_KEY'] }), { mode: 0o600 }),
      },
    );

  async function deployed(releaseId: string, environment: string, extra: Record<string, unknown> = {}) {
    const res = await owner.client.post(`/api/v1/releases/${releaseId}/deployments`, { environment, ...extra });
    expect(res.status).toBe(201);
    const d = await waitFor(
      `deployment ${res.body.id} to end`,
      async () => {
        const got = (await owner.client.get(`/api/v1/deployments/${res.body.id}`)).body;
        return ['succeeded', 'failed', 'cancelled'].includes(got.state) ? got : undefined;
      },
      30_000,
    );
    return { ...d, log: (await owner.client.get(`/api/v1/tasks/${d.taskId}/log`)).text as string };
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    cp = await startControlPlane({ DATABASE_URL: db.url, PORT: String(await deadPort()), JOB_REQUERY_SECONDS: '1' });
    owner = await signUp({ client: () => new HttpClient(cp.url) });
    for (const name of ['Dev', 'Prod']) expect((await owner.client.post('/api/v1/environments', { name })).status).toBe(201);
    await agent('web-dev', ['Dev']);
    await agent('web-prod', ['Prod']);
    projectId = (await owner.client.post('/api/v1/projects', { name: 'Shop' })).body.id;
    const set = await owner.client.post('/api/v1/variable-sets', { name: 'Common' });
    expect(set.status).toBe(201);
    setId = set.body.id;
    expect((await owner.client.put(`/api/v1/variable-sets/${setId}/variables`, [{ name: 'Greeting', value: 'hello' }])).status).toBe(200);
    expect((await owner.client.patch(`/api/v1/projects/${projectId}`, { variableSetIds: [setId] })).body.variableSetIds).toEqual([setId]);
    const saved = await owner.client.put(`/api/v1/projects/${projectId}/variables`, [
      { name: 'DbHost', value: 'db.dev.internal', scope: { environments: ['Dev'] } },
      { name: 'DbHost', value: 'db.prod.internal', scope: { environments: ['Prod'] } },
      { name: 'DbPassword', value: PASSWORD_VALUE, sensitive: true, description: 'the app user' },
      { name: 'ConnectionString', value: 'host=#{DbHost};password=#{DbPassword}' },
    ]);
    expect(saved.status).toBe(200);
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step(SCRIPT))).status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await cp?.stop();
    await db?.drop();
  });

  it('shows a sensitive value only as having one, and keeps it when saved again without it', async () => {
    const list = (await owner.client.get(`/api/v1/projects/${projectId}/variables`)).body;
    const password = list.find((v: { name: string }) => v.name === 'DbPassword');
    expect(password).toEqual({ id: expect.any(String), name: 'DbPassword', sensitive: true, hasValue: true, description: 'the app user', scope: {}, prompt: null });
    expect(list.find((v: { name: string }) => v.name === 'DbHost').scope.environments[0].name).toBe('Dev');
    // Saving the list as read keeps the password: it is sent back without a value.
    const again = await owner.client.put(`/api/v1/projects/${projectId}/variables`, list);
    expect(again.status).toBe(200);
    expect(again.body.find((v: { name: string }) => v.name === 'DbPassword')).toMatchObject({ id: password.id, hasValue: true });
    // The same saved value twice is refused, not copied.
    const twice = await owner.client.put(`/api/v1/projects/${projectId}/variables`, [...list, password]);
    expect([twice.status, twice.body.error.code]).toEqual([422, 'INVALID_VARIABLES']);
    expect(twice.body.error.message).toContain('is given twice');
  });

  it('seals a value made sensitive without sending it again', async () => {
    const other = (await owner.client.post('/api/v1/projects', { name: 'Later' })).body.id;
    const saved = await owner.client.put(`/api/v1/projects/${other}/variables`, [{ name: 'Later', value: 'later-secret-value' }]);
    const made = await owner.client.put(`/api/v1/projects/${other}/variables`, [{ id: saved.body[0].id, name: 'Later', sensitive: true }]);
    expect(made.body).toEqual([expect.objectContaining({ name: 'Later', sensitive: true, hasValue: true })]);
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const dump = (await client.query(`SELECT t::text AS row FROM variables t`)).rows.map((r) => r.row).join('\n');
      expect(dump).not.toContain('later-secret-value');
    } finally {
      await client.end();
    }
    expect((await owner.client.delete(`/api/v1/projects/${other}`)).status).toBe(204);
  });

  it('refuses values that could tie, names nobody can resolve, and scopes on what is not there', async () => {
    const tie = await owner.client.put(`/api/v1/projects/${projectId}/variables`, [
      { name: 'X', value: '1', scope: { environments: ['Dev'] } },
      { name: 'x', value: '2', scope: { environments: ['Dev', 'Prod'] } },
    ]);
    expect([tie.status, tie.body.error.code]).toEqual([422, 'INVALID_VARIABLES']);
    expect(tie.body.error.message).toContain('"X" has two values that could both apply (scoped to environments Dev and scoped to environments Dev, Prod)');
    const reserved = await owner.client.put(`/api/v1/projects/${projectId}/variables`, [{ name: 'Corral.Mine', value: '1' }]);
    expect([reserved.status, reserved.body.error.code]).toEqual([422, 'VALIDATION_FAILED']);
    expect(reserved.body.error.message).toContain(`0.name: names starting with "Corral." belong to Corral's system variables`);
    const bad = await owner.client.put(`/api/v1/projects/${projectId}/variables`, [
      { name: 'A', value: '1', scope: { environments: ['Nowhere'], agents: ['ghost'] } },
      { name: 'Secret', sensitive: true },
    ]);
    expect([bad.status, bad.body.error.code]).toEqual([422, 'INVALID_VARIABLES']);
    expect(bad.body.error.message).toMatch(/value 1 \("A"\): no environment "Nowhere"/);
    expect(bad.body.error.message).toContain('value 1 ("A") is scoped to "ghost", which is no agent of this organisation');
    expect(bad.body.error.message).toContain('value 2 ("Secret") is sensitive and has no value');
    const viewer = await makeMember({ client: () => new HttpClient(cp.url) } as Parameters<typeof makeMember>[0], owner, 'viewer');
    expect((await viewer.client.put(`/api/v1/projects/${projectId}/variables`, [])).status).toBe(403);
    expect((await viewer.client.get(`/api/v1/projects/${projectId}/variables`)).status).toBe(200);
  });

  it('previews what a step sees on an agent, and where each value came from', async () => {
    const preview = await owner.client.get(`/api/v1/projects/${projectId}/variables/preview?environment=Prod&agent=web-prod&step=deploy`);
    expect(preview.status).toBe(200);
    expect(preview.body.variables).toEqual([
      { name: 'ConnectionString', value: '***', sensitive: true, from: 'project, unscoped' },
      { name: 'DbHost', value: 'db.prod.internal', sensitive: false, from: 'project, scoped to environment Prod' },
      { name: 'DbPassword', value: '***', sensitive: true, from: 'project, unscoped' },
      { name: 'Greeting', value: 'hello', sensitive: false, from: 'library set Common, unscoped' },
    ]);
  });

  it('deploys with the value of each environment, the password masked in every form, and in no response, event or log line', async () => {
    const release = await owner.client.post(`/api/v1/projects/${projectId}/releases`, {});
    expect(release.status).toBe(201);
    expect(release.body.warnings).toEqual([]);
    const dev = await deployed(release.body.id, 'Dev');
    expect(dev.state).toBe('succeeded');
    expect(dev.log).toContain('host=db.dev.internal password=***');
    expect(dev.log).toContain('b64=***');
    expect(dev.log).toContain('conn=***');
    expect(dev.log).toContain('hello from Dev on web-dev, release 1.0.0, literal #{DbHost}');
    const prod = await deployed(release.body.id, 'Prod');
    expect(prod.state).toBe('succeeded');
    expect(prod.log).toContain('host=db.prod.internal password=***');

    const responses = [
      await owner.client.get(`/api/v1/projects/${projectId}/variables`),
      await owner.client.get(`/api/v1/releases/${release.body.id}`),
      await owner.client.get(`/api/v1/deployments/${prod.id}`),
      await owner.client.get(`/api/v1/tasks/${prod.taskId}`),
      await owner.client.get('/api/v1/audit-events?limit=200'),
      await owner.client.get(`/api/v1/deployments/${prod.id}/log`),
    ];
    for (const res of responses) {
      expect(res.status).toBe(200);
      for (const form of [PASSWORD_VALUE, base64]) expect(res.text).not.toContain(form);
    }
    expect(cp.output()).not.toContain(PASSWORD_VALUE);
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      for (const table of ['variables', 'jobs', 'log_chunks', 'audit_events']) {
        const dump = (await client.query(`SELECT t::text AS row FROM ${table} t`)).rows.map((r) => r.row).join('\n');
        expect(dump).not.toContain(PASSWORD_VALUE);
      }
    } finally {
      await client.end();
    }
  });

  it('fails a deployment that would run #{Nope} before anything runs, naming the variable and the step; the release warned of it', async () => {
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step('echo "#{Nope}"'))).status).toBe(200);
    const release = await owner.client.post(`/api/v1/projects/${projectId}/releases`, {});
    expect(release.body.warnings).toEqual(['step "deploy" uses #{Nope}, which no variable defines']);
    const refused = await owner.client.post(`/api/v1/releases/${release.body.id}/deployments`, { environment: 'Dev' });
    expect([refused.status, refused.body.error.code]).toEqual([422, 'UNRESOLVED_VARIABLE']);
    expect(refused.body.error.message).toBe('step "deploy" cannot run on web-dev: #{Nope} is not defined here');
    expect((await owner.client.get(`/api/v1/deployments?projectId=${projectId}`)).body.filter((d: { release: { id: string } }) => d.release.id === release.body.id)).toEqual([]);
  });

  it('asks for prompted values: a required one left out is 422 naming it; a given one reaches the script', async () => {
    const variables = (await owner.client.get(`/api/v1/projects/${projectId}/variables`)).body;
    const saved = await owner.client.put(`/api/v1/projects/${projectId}/variables`, [...variables, { name: 'Ticket', prompt: { label: 'Change ticket', required: true } }]);
    expect(saved.status).toBe(200);
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step('echo "ticket #{Ticket}"'))).status).toBe(200);
    const release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body;
    // A prompted value with no default reads as null, and saves back as read.
    const read = (await owner.client.get(`/api/v1/projects/${projectId}/variables`)).body;
    expect(read.find((v: { name: string }) => v.name === 'Ticket')).toMatchObject({ value: null, prompt: { label: 'Change ticket', required: true } });
    expect((await owner.client.put(`/api/v1/projects/${projectId}/variables`, read)).status).toBe(200);
    // The preview says what is left to answer instead of refusing.
    const preview = await owner.client.post(`/api/v1/releases/${release.id}/deployments/preview`, { environment: 'Dev' });
    expect(preview.status).toBe(200);
    expect(preview.body.refusals.map((r: { code: string }) => r.code)).toContain('PROMPTED_VARIABLE_MISSING');
    const missing = await owner.client.post(`/api/v1/releases/${release.id}/deployments`, { environment: 'Dev' });
    expect([missing.status, missing.body.error.code]).toEqual([422, 'PROMPTED_VARIABLE_MISSING']);
    expect(missing.body.error.message).toContain('"Ticket" (Change ticket)');
    const unknown = await owner.client.post(`/api/v1/releases/${release.id}/deployments`, { environment: 'Dev', variables: { Ticket: 'CHG-1', Other: 'x' } });
    expect([unknown.status, unknown.body.error.code]).toEqual([422, 'UNKNOWN_VARIABLE']);
    const d = await deployed(release.id, 'Dev', { variables: { ticket: 'CHG-42' } });
    expect(d.state).toBe('succeeded');
    expect(d.log).toContain('ticket CHG-42');
  });

  it("keeps a release's snapshot until asked to take it again", async () => {
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step('echo "greeting #{Greeting}"'))).status).toBe(200);
    const release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body;
    expect((await owner.client.put(`/api/v1/variable-sets/${setId}/variables`, [{ name: 'Greeting', value: 'bonjour' }])).status).toBe(200);
    // The project still asks for a ticket (the test before added it).
    const ticket = { variables: { Ticket: 'CHG-7' } };
    expect((await deployed(release.id, 'Dev', ticket)).log).toContain('greeting hello');
    const updated = await owner.client.post(`/api/v1/releases/${release.id}/update-variables`, {});
    expect(updated.status).toBe(200);
    expect((await deployed(release.id, 'Dev', ticket)).log).toContain('greeting bonjour');
    const events = (await owner.client.get('/api/v1/audit-events?limit=50')).body.items;
    expect(events.map((e: { action: string }) => e.action)).toContain('release.variables_updated');
    // A set that a project includes stays until the project lets go of it.
    const refused = await owner.client.delete(`/api/v1/variable-sets/${setId}`);
    expect([refused.status, refused.body.error.code]).toEqual([409, 'SET_IN_USE']);
  });

  it('passes outputs to later steps; a sensitive one reaches no log in any form, and shows as *** in the deployment', async () => {
    const makeKey = {
      name: 'make-key',
      kind: 'script',
      script: {
        syntax: 'bash',
        body: 'printf %s "$TEST_API_KEY" | corral set-output ApiKey --sensitive\ncorral set-output Url "http://#{Corral.Agent.Name}:8080"\necho "db is $(corral get DbHost), other=${OTHER_SECRET:-unset}"',
      },
      targetRoles: ['web'],
    };
    const body = [
      'echo "url=#{Corral.Output[make-key].Url} again=#{Corral.Output[make-key][web-dev].Url}"',
      'echo "key=#{Corral.Output[make-key].ApiKey}"',
      "printf %s '#{Corral.Output[make-key].ApiKey}' | base64",
      'printf \'{"key":"%s"}\\n\' "$(corral get Corral.Output[make-key].ApiKey)"',
    ].join('\n');
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step(body, [makeKey]))).status).toBe(200);
    const release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body;
    expect(release.warnings).toEqual([]);
    const d = await deployed(release.id, 'Dev', { variables: { Ticket: 'CHG-9' } });
    expect(d.state).toBe('succeeded');
    expect(d.log).toContain('db is db.dev.internal, other=unset');
    expect(d.log).toContain('url=http://web-dev:8080 again=http://web-dev:8080');
    expect(d.log).toContain('key=***');
    expect(d.log).toContain('{"key":"***"}');
    for (const form of [API_KEY, Buffer.from(API_KEY).toString('base64')]) expect(d.log).not.toContain(form);
    const shown = await owner.client.get(`/api/v1/deployments/${d.id}`);
    expect(shown.text).not.toContain(API_KEY);
    const made = shown.body.steps.find((s: { name: string }) => s.name === 'make-key').targets[0].outputs;
    expect(made).toEqual([
      { name: 'ApiKey', value: '***', sensitive: true },
      { name: 'Url', value: 'http://web-dev:8080', sensitive: false },
    ]);
    expect(cp.output()).not.toContain(API_KEY);
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const dump = (await client.query(`SELECT t::text AS row FROM job_outputs t`)).rows.map((r) => r.row).join('\n');
      expect(dump).toContain('http://web-dev:8080');
      expect(dump).not.toContain(API_KEY);
    } finally {
      await client.end();
    }
  });

  it('keeps every deployment working across a rotation of the data keys, nothing left under the old key', async () => {
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step(SCRIPT))).status).toBe(200);
    const release = (await owner.client.post(`/api/v1/projects/${projectId}/releases`, {})).body;
    const sealedKeys = async () => {
      const client = new Client({ connectionString: db.url });
      await client.connect();
      try {
        const rows = await client.query(`SELECT DISTINCT split_part(sealed_value, '.', 2) AS key FROM variables WHERE sealed_value IS NOT NULL`);
        return rows.rows.map((r) => r.key as string);
      } finally {
        await client.end();
      }
    };
    const [before] = await sealedKeys();
    const rotation = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'secrets', 'secrets-cli.js'), 'rotate'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: db.url, CORRAL_SECRETS_KEY: TEST_SECRETS_KEY },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(rotation.status).toBe(0);
    const after = await sealedKeys();
    expect(after).toHaveLength(1);
    expect(after).not.toContain(before);
    const d = await deployed(release.id, 'Dev', { variables: { Ticket: 'CHG-10' } });
    expect(d.state).toBe('succeeded');
    expect(d.log).toContain('host=db.dev.internal password=***');
    expect(d.log).not.toContain(PASSWORD_VALUE);
  });
});
