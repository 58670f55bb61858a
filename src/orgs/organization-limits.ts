import type { CorralConfig } from '../config/config';

/**
 * What one organisation may use of a shared control plane. Each has a default from the node's
 * configuration; a platform operator may set another for one organisation (null goes back to the
 * default). The rates are per node: behind a load balancer over N nodes an organisation may reach
 * N times as much.
 */
export interface OrganizationLimits {
  /** Tasks waiting to start at once; one more is refused with 429 QUEUE_FULL. */
  queuedTasks: number;
  /** API requests a second per API key (or console session), per node; beyond it, 429 with Retry-After. */
  apiRequestsPerSecond: number;
  /** Log kept per job attempt; beyond it the output is cut behind a marker line and the job runs on. */
  logBytesPerJob: number;
  /** Jobs offered or running at once, on all nodes; the rest wait in the queue. */
  runningJobs: number;
  /** Agents' WebSockets and console event streams open at once, per node; one more is refused with 429. */
  liveConnections: number;
}

export type LimitName = keyof OrganizationLimits;

/** Each limit's bounds, and the variable its default comes from. */
export const LIMITS: Record<LimitName, { min: number; max: number; env: string; configKey: keyof CorralConfig }> = {
  queuedTasks: { min: 1, max: 10_000_000, env: 'ORG_MAX_QUEUED_TASKS', configKey: 'orgMaxQueuedTasks' },
  apiRequestsPerSecond: { min: 1, max: 1_000_000, env: 'ORG_API_REQUESTS_PER_SECOND', configKey: 'orgApiRequestsPerSecond' },
  logBytesPerJob: { min: 1024, max: 1024 ** 3, env: 'JOB_LOG_MAX_BYTES', configKey: 'jobLogMaxBytes' },
  runningJobs: { min: 1, max: 10_000_000, env: 'ORG_MAX_RUNNING_JOBS', configKey: 'orgMaxRunningJobs' },
  liveConnections: { min: 1, max: 10_000_000, env: 'ORG_MAX_LIVE_CONNECTIONS', configKey: 'orgMaxLiveConnections' },
};

export const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];

export function defaultLimits(config: CorralConfig): OrganizationLimits {
  return Object.fromEntries(LIMIT_NAMES.map((name) => [name, config[LIMITS[name].configKey] as number])) as unknown as OrganizationLimits;
}

/** The defaults with an organisation's own values over them (values no longer valid are ignored). */
export function effectiveLimits(defaults: OrganizationLimits, own: Partial<Record<LimitName, unknown>>): OrganizationLimits {
  const out = { ...defaults };
  for (const name of LIMIT_NAMES) {
    const value = own[name];
    if (typeof value === 'number' && Number.isInteger(value) && value >= LIMITS[name].min && value <= LIMITS[name].max) out[name] = value;
  }
  return out;
}
