import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPolicySchema } from '../../src/protocol/messages';
import { policyRefusal } from '../../src/protocol/policy-check';
import { ConfigError } from './errors';
import { checkJobAgainstPolicy, DEFAULT_POLICY, describePolicy, loadPolicy, parsePolicy } from './policy';

describe('local policy', () => {
  it('fills what a file leaves out with the defaults, and reports its source', () => {
    const policy = parsePolicy('{"frozen": true, "allowScripts": false}', '/etc/corral/agent-policy.json');
    expect(policy).toEqual({ ...DEFAULT_POLICY, source: '/etc/corral/agent-policy.json', frozen: true, allowScripts: false });
    expect(LocalPolicySchema.parse(policy)).toEqual(policy);
  });

  it('accepts every field', () => {
    const text = JSON.stringify({ allowedJobKinds: ['health-check'], allowScripts: false, runAs: 'deploy', allowedOrganizations: ['acme'], frozen: false });
    expect(parsePolicy(text, 'p.json')).toEqual({ source: 'p.json', allowedJobKinds: ['health-check'], allowScripts: false, runAs: 'deploy', allowedOrganizations: ['acme'], frozen: false });
  });

  it.each([
    ['{"frozn": true}', 'unknown key "frozn"'],
    ['{"allowedJobKinds": ["scripts"]}', 'allowedJobKinds.0: must be one of script, deployment, health-check'],
    ['{"allowScripts": "no"}', 'allowScripts'],
    ['{"runAs": "Robert; rm -rf /"}', 'runAs: must be a user name'],
    ['{"allowedOrganizations": "acme"}', 'allowedOrganizations'],
    ['[]', 'policy'],
    ['{frozen: true}', 'is not valid JSON'],
  ])('refuses %s', (text, message) => {
    expect(() => parsePolicy(text, '/etc/corral/agent-policy.json')).toThrow(ConfigError);
    expect(() => parsePolicy(text, '/etc/corral/agent-policy.json')).toThrow(message);
  });

  describe('loading', () => {
    let dir: string;
    let system: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'corral-policy-'));
      system = join(dir, 'system-policy.json');
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('uses the defaults, with source "default", when there is no file', () => {
      expect(loadPolicy(dir, system)).toEqual(DEFAULT_POLICY);
    });

    it('reads the system file, and lets the state dir file win over it', () => {
      writeFileSync(system, '{"frozen": true}', { mode: 0o644 });
      expect(loadPolicy(dir, system)).toMatchObject({ source: system, frozen: true });
      writeFileSync(join(dir, 'policy.json'), '{"allowScripts": false}', { mode: 0o644 });
      expect(loadPolicy(dir, system)).toMatchObject({ source: join(dir, 'policy.json'), frozen: false, allowScripts: false });
    });

    it('refuses a policy file that group or others may rewrite', () => {
      writeFileSync(system, '{}');
      chmodSync(system, 0o666);
      expect(() => loadPolicy(dir, system)).toThrow('writable by group or others');
    });

    it('describes a policy in one line', () => {
      expect(describePolicy(DEFAULT_POLICY)).toBe('default policy (no policy file): job kinds script, deployment, health-check; scripts allowed; run as the agent user; organisations any');
      expect(describePolicy({ ...DEFAULT_POLICY, source: '/p', frozen: true })).toContain('/p: FROZEN');
    });
  });
});

describe('enforcing the local policy on a job', () => {
  let dir: string;
  let passwd: string;
  const job = { kind: 'script', organizationId: '0B6F3C1E-7A52-4C8E-9D41-2F0E5B7A9C13' };
  const root = { uid: 0, name: 'root' };
  const policy = (p: Partial<typeof DEFAULT_POLICY>) => ({ ...DEFAULT_POLICY, source: '/etc/corral/agent-policy.json', ...p });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-policy-'));
    passwd = join(dir, 'passwd');
    writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\ndeploy:x:1001:1002:Deploy:/home/deploy:/bin/bash\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('allows what the policy allows, with no user switch by default', () => {
    expect(checkJobAgainstPolicy(DEFAULT_POLICY, job, root, passwd)).toEqual({ allowed: true, runAs: null });
  });

  // The rules themselves are the protocol's, tested in src/protocol/policy-check.spec.ts.
  it('refuses with the shared verdict, policyRefusal, before it looks at the run-as user', () => {
    const frozen = policy({ frozen: true, runAs: 'nobody-here' });
    expect(checkJobAgainstPolicy(frozen, job, root, passwd)).toEqual({ allowed: false, message: policyRefusal(frozen, job) });
    expect(policyRefusal(frozen, job)).toContain('"frozen": true');
  });

  it('refuses a runAs user that does not exist on this host, saying which file names it', () => {
    expect(checkJobAgainstPolicy(policy({ runAs: 'nobody-here' }), job, root, passwd)).toEqual({
      allowed: false,
      message: `"runAs": "nobody-here" in /etc/corral/agent-policy.json names a user that does not exist on this host (${passwd})`,
    });
  });

  it('switches to the runAs user only as root; as that user itself it needs no switch', () => {
    expect(checkJobAgainstPolicy(policy({ runAs: 'deploy' }), job, root, passwd)).toEqual({ allowed: true, runAs: { user: 'deploy', uid: 1001, gid: 1002, home: '/home/deploy' } });
    expect(checkJobAgainstPolicy(policy({ runAs: 'deploy' }), job, { uid: 1001, name: 'deploy' }, passwd)).toEqual({ allowed: true, runAs: null });
    expect(checkJobAgainstPolicy(policy({ runAs: 'deploy' }), job, { uid: 1500, name: 'corral' }, passwd)).toEqual({
      allowed: false,
      message: '"runAs": "deploy" in /etc/corral/agent-policy.json needs the agent to run as root to switch users (it runs as corral)',
    });
  });
});
