import type { OrganizationLimits } from '../api/types';

/** Each organisation limit as the console names it, with its unit. */
export const LIMIT_LABELS: readonly (readonly [keyof OrganizationLimits, string, string])[] = [
  ['queuedTasks', 'Tasks waiting to start, at most', ''],
  ['runningJobs', 'Jobs offered or running at once', ''],
  ['apiRequestsPerSecond', 'API requests a second, per key or session', ''],
  ['liveConnections', 'Live connections per node (agents and event streams)', ''],
  ['logBytesPerJob', 'Log kept per job', 'bytes'],
];
