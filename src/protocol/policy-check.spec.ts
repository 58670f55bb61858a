import type { LocalPolicy } from './messages';
import { policyRefusal } from './policy-check';

// The one set of policy rules: the control plane and the agent both decide with policyRefusal.
const open: LocalPolicy = {
  source: '/etc/corral/agent-policy.json',
  allowedJobKinds: ['script', 'deployment', 'health-check'],
  allowScripts: true,
  runAs: null,
  allowedOrganizations: null,
  frozen: false,
};
const org = '0b6f3c1e-7a52-4c8e-9d41-2f0e5b7a9c13';
const script = { kind: 'script', organizationId: org };

describe('policyRefusal', () => {
  it('allows what the policy allows, and anything when no policy was reported', () => {
    expect(policyRefusal(open, script)).toBeNull();
    expect(policyRefusal(null, script)).toBeNull();
    expect(policyRefusal({ ...open, allowScripts: false }, { kind: 'health-check', organizationId: org })).toBeNull();
  });

  it.each([
    [{ frozen: true }, 'this host is frozen by its local policy, /etc/corral/agent-policy.json ("frozen": true): it runs no work'],
    [{ allowedJobKinds: ['health-check'] }, 'job kind "script" is not allowed by /etc/corral/agent-policy.json ("allowedJobKinds": ["health-check"])'],
    [{ allowScripts: false }, 'scripts are not allowed by /etc/corral/agent-policy.json ("allowScripts": false)'],
    [{ allowedOrganizations: ['acme'] }, `organisation ${org} is not in "allowedOrganizations" of /etc/corral/agent-policy.json`],
  ])('refuses under %j, naming the rule and the file', (p, message) => {
    expect(policyRefusal({ ...open, ...p }, script)).toBe(message);
  });

  it('matches organisations whatever their case, on both sides alike', () => {
    expect(policyRefusal({ ...open, allowedOrganizations: [org.toUpperCase()] }, script)).toBeNull();
    expect(policyRefusal({ ...open, allowedOrganizations: [org] }, { ...script, organizationId: org.toUpperCase() })).toBeNull();
  });

  it('names the default policy when there is no file', () => {
    expect(policyRefusal({ ...open, source: 'default', allowScripts: false }, script)).toBe('scripts are not allowed by the default policy (no policy file) ("allowScripts": false)');
  });

  it('forbids a kind the policy does not list, whatever else it allows', () => {
    expect(policyRefusal({ ...open, allowedJobKinds: ['script'] }, { kind: 'health-check', organizationId: org })).toMatch(/job kind "health-check" is not allowed/);
  });
});
