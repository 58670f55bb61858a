import type { LocalPolicy } from './messages';
import { policyRefusal } from './policy-check';

const open: LocalPolicy = { source: '/etc/corral/agent-policy.json', allowedJobKinds: ['script'], allowScripts: true, runAs: null, allowedOrganizations: null, frozen: false };
const job = { kind: 'script' as const, adHocScript: true, organizationId: 'org-1' };

describe('policyRefusal', () => {
  it('allows what the policy allows, and anything when no policy was reported', () => {
    expect(policyRefusal(open, job)).toBeNull();
    expect(policyRefusal(null, job)).toBeNull();
  });

  it('names the rule and the file that forbid a job', () => {
    expect(policyRefusal({ ...open, frozen: true }, job)).toMatch(/frozen .*agent-policy\.json/);
    expect(policyRefusal({ ...open, allowedJobKinds: ['deployment'] }, job)).toMatch(/job kind "script" is not in allowedJobKinds/);
    expect(policyRefusal({ ...open, allowScripts: false }, job)).toMatch(/allowScripts is false/);
    expect(policyRefusal({ ...open, allowedOrganizations: ['org-2'] }, job)).toMatch(/organisation org-1 is not in allowedOrganizations/);
  });
});
