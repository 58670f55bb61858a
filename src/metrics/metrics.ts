import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { dbQueries, statementDuration } from '../database/database-metrics';

/** The node's one metrics registry: what `/metrics` serves. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'corral_' });
// prom-client names three gauges with `_total`, the suffix Prometheus keeps for counters (promtool
// warns): the same counts without it (by type) stay.
for (const name of ['corral_nodejs_active_handles_total', 'corral_nodejs_active_requests_total', 'corral_nodejs_active_resources_total']) registry.removeSingleMetric(name);

/** What this node runs (always 1): its version, and the node id its logs and the nodes list name. */
export const buildInfo = new Gauge({ name: 'corral_build_info', help: 'The Corral version this node runs, and its node id', labelNames: ['version', 'node'] as const, registers: [registry] });

/** The control plane's version, from its package.json: above src/ when run from the sources, above dist/ when built. */
export function corralVersion(): string {
  for (const up of [
    ['..', '..'],
    ['..', '..', '..'],
  ]) {
    try {
      const pkg = JSON.parse(readFileSync(join(__dirname, ...up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'corral' && pkg.version) return pkg.version;
    } catch {
      // not there: the other layout
    }
  }
  return 'unknown';
}

// The database layer's own metrics (defined there, since database/ imports no feature module).
registry.registerMetric(statementDuration);
registry.registerMetric(dbQueries);
export { dbQueries, statementDuration };

export const httpRequestDuration = new Histogram({
  name: 'corral_http_request_duration_seconds',
  help: 'HTTP request durations by route template, method and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const dispatchLatency = new Histogram({
  name: 'corral_dispatch_latency_seconds',
  help: 'From a job becoming claimable to its offer leaving this node, by transport',
  labelNames: ['transport'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
  registers: [registry],
});

export const jobsFinished = new Counter({
  name: 'corral_jobs_finished_total',
  help: 'Jobs that ended on this node, by final state',
  labelNames: ['state'] as const,
  registers: [registry],
});

export const tasksFinished = new Counter({
  name: 'corral_tasks_finished_total',
  help: 'Tasks that ended on this node, by kind (script, deployment, health check) and final state',
  labelNames: ['kind', 'state'] as const,
  registers: [registry],
});

// Jobs and tasks run from seconds (a script) to hours (a deployment waiting on a manual step).
const DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600];

export const jobDuration = new Histogram({
  name: 'corral_job_duration_seconds',
  help: 'How long jobs that ended on this node ran, from start to their reported end, by kind and final state',
  labelNames: ['kind', 'state'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const taskDuration = new Histogram({
  name: 'corral_task_duration_seconds',
  help: 'How long tasks that ended on this node took, from creation (queueing included) to their end, by kind and final state',
  labelNames: ['kind', 'state'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const leaseExpiries = new Counter({
  name: 'corral_lease_expiries_total',
  help: 'Leases that lapsed: offers not accepted in time (offer), running jobs that became unknown (lost) or were retried (retried)',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const jobsByState = new Gauge({ name: 'corral_jobs', help: 'Jobs not yet finished, by state (whole cluster)', labelNames: ['state'] as const, registers: [registry] });
export const queueDepth = new Gauge({ name: 'corral_queue_depth', help: 'Jobs an agent could be offered now (whole cluster)', registers: [registry] });
export const connectedAgents = new Gauge({ name: 'corral_connected_agents', help: 'Agents connected to this node, by transport', labelNames: ['transport'] as const, registers: [registry] });
export const agentsByStatus = new Gauge({
  name: 'corral_agents',
  help: 'Agents by status, and whether they are connected to a node (whole cluster)',
  labelNames: ['status', 'connected'] as const,
  registers: [registry],
});
