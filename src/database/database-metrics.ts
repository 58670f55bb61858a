import { Counter, Histogram } from 'prom-client';

// Defined here, next to the code that measures them, and registered on the node's registry by
// src/metrics/metrics.ts: database/ imports no feature module.

export const statementDuration = new Histogram({
  name: 'corral_db_statement_duration_seconds',
  help: 'Round trips of the named hot statements (queue, presence, authentication), from sending to the answer',
  labelNames: ['statement'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [],
});

/** Seconds this node's named hot statements have taken in all, side by side counted twice: how much of the database its work keeps busy. */
export const statementTime = { seconds: 0 };

export const dbQueries = new Counter({ name: 'corral_db_queries_total', help: 'Statements this node sent to PostgreSQL (the event listener aside)', registers: [] });
