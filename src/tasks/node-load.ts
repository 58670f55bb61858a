import { performance } from 'node:perf_hooks';
import { statementTime } from '../database/database-metrics';

/**
 * How busy the node was since the last call, every `windowMs`: the larger of its event loop's
 * utilisation and the database time its hot statements took per second of the window (two at
 * once count twice). Either saturates first depending on the machine; both slow every dispatch.
 */
export function nodeLoad(windowMs: number): () => number {
  let loop = performance.eventLoopUtilization();
  let database = statementTime.seconds;
  return () => {
    const now = performance.eventLoopUtilization();
    const load = Math.max(performance.eventLoopUtilization(now, loop).utilization, (statementTime.seconds - database) / (windowMs / 1000));
    loop = now;
    database = statementTime.seconds;
    return load;
  };
}
