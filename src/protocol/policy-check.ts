import type { LocalPolicy } from './messages';

/** What a job asks of a host, as far as its local policy cares. */
export interface JobRequest {
  kind: string;
  organizationId: string;
}

/** The policy file in words: "/etc/corral/agent-policy.json" or "the default policy (no policy file)". */
export function policyWhere(policy: LocalPolicy): string {
  return policy.source === 'default' ? 'the default policy (no policy file)' : policy.source;
}

/**
 * The host's veto over one job, in one place for both sides: the control plane checks it before
 * it queues or offers anything, and the agent checks it again before it runs. Null when the
 * policy allows the job (or no policy was reported); otherwise the rule that forbids it and the
 * file it comes from, so the operator knows what to change. Organisation ids match whatever their
 * case, as UUIDs do. (Which user the job runs as is the agent's own question: it needs the host.)
 */
export function policyRefusal(policy: LocalPolicy | null, job: JobRequest): string | null {
  if (!policy) return null;
  const where = policyWhere(policy);
  if (policy.error) return `this host runs no work until its local policy is fixed: ${policy.error}`;
  if (policy.frozen) return `this host is frozen by its local policy, ${where} ("frozen": true): it runs no work`;
  if (!policy.allowedJobKinds.includes(job.kind)) return `job kind "${job.kind}" is not allowed by ${where} ("allowedJobKinds": ${JSON.stringify(policy.allowedJobKinds)})`;
  if (job.kind === 'script' && !policy.allowScripts) return `scripts are not allowed by ${where} ("allowScripts": false)`;
  const organization = job.organizationId.toLowerCase();
  if (policy.allowedOrganizations && !policy.allowedOrganizations.some((o) => o.toLowerCase() === organization))
    return `organisation ${job.organizationId} is not in "allowedOrganizations" of ${where}`;
  return null;
}
