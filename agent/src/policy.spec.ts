import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPolicySchema } from '../../src/protocol/messages';
import { ConfigError } from './errors';
import { DEFAULT_POLICY, describePolicy, loadPolicy, parsePolicy } from './policy';

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
