import type { JobKind, LocalPolicy } from './messages';

/** What a job asks of a host, as far as its local policy cares. */
export interface JobRequest {
  kind: JobKind;
  /** A script is an ad-hoc script (as opposed to a step of a released deployment). */
  adHocScript: boolean;
  organizationId: string;
}

/**
 * Why the host's local policy forbids the job, or null when it allows it. The control plane
 * checks this before it queues or offers anything; the agent checks it again before it runs.
 */
export function policyRefusal(policy: LocalPolicy | null, job: JobRequest): string | null {
  if (!policy) return null;
  if (policy.frozen) return `the host is frozen by its local policy (${policy.source})`;
  if (!policy.allowedJobKinds.includes(job.kind)) return `job kind "${job.kind}" is not in allowedJobKinds of the local policy (${policy.source})`;
  if (job.adHocScript && !policy.allowScripts) return `ad-hoc scripts are not allowed by the local policy (allowScripts is false in ${policy.source})`;
  if (policy.allowedOrganizations && !policy.allowedOrganizations.includes(job.organizationId))
    return `organisation ${job.organizationId} is not in allowedOrganizations of the local policy (${policy.source})`;
  return null;
}
