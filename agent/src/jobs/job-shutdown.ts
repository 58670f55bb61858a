import type { Logger } from '../log';
import type { JobTable } from './job-table';

export interface ShutdownTimings {
  /** Running jobs get this long to end on their own before they are cancelled. */
  shutdownGraceMs: number;
  /** ... then SIGTERM, and SIGKILL after this long. */
  shutdownKillGraceMs: number;
  /** ... then this long to report what ended. */
  shutdownReportMs: number;
  /** A job stopped outright (the agent revoked) gets this long between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** After a script exits, how long the runner waits for the rest of its output. */
  drainMs: number;
}

// What a stopped job may still take once its process is gone: its output draining, then a margin.
const settleMs = (t: ShutdownTimings, killGraceMs: number) => killGraceMs + t.drainMs + 1_000;

/**
 * Graceful stop (the caller already refuses new offers): give running jobs `shutdownGraceMs` to
 * end, cancel the rest ("agent stopping"), then wait up to `shutdownReportMs` for the server to
 * acknowledge every outcome. Accepted jobs that never started stay in the ledger; the next run
 * re-sends their accept.
 */
export async function drainJobs(table: JobTable, t: ShutdownTimings, logger: Logger): Promise<void> {
  const unsettled = () => table.unsettled();
  if (unsettled().length) {
    logger.info(`agent stopping: waiting up to ${Math.round(t.shutdownGraceMs / 1000)} s for ${unsettled().length} running job(s) before cancelling them`);
    await table.waitUntil(() => unsettled().length === 0, t.shutdownGraceMs);
    const rest = unsettled().filter((j) => j.runner?.running);
    if (rest.length) logger.info(`agent stopping: cancelling ${rest.length} job(s) still running`);
    for (const job of rest) job.runner?.stop('cancelled', t.shutdownKillGraceMs, 'agent stopping: SIGTERM sent to process group', 'agent stopping');
    await table.waitUntil(() => unsettled().length === 0, settleMs(t, t.shutdownKillGraceMs));
  }
  const unreported = () => table.unreported().length + unsettled().length;
  if (unreported()) {
    await table.waitUntil(() => unreported() === 0, t.shutdownReportMs);
    if (unreported()) logger.warn(`agent stopping with ${unreported()} job outcome(s) not yet acknowledged; they are re-sent when the agent starts again`);
  }
}

/** Stops every running job now (SIGTERM, then SIGKILL after `killGraceMs`), e.g. when the agent was revoked; reports nothing. */
export async function terminateJobs(table: JobTable, t: ShutdownTimings, logger: Logger, reason: string): Promise<void> {
  const live = table.unsettled().filter((j) => j.runner?.running);
  if (live.length) logger.warn(`stopping ${live.length} running job(s): ${reason}`);
  for (const job of live) job.runner?.stop('cancelled', t.killGraceMs, `${reason}: SIGTERM sent to process group`, reason);
  await table.waitUntil(() => table.unsettled().length === 0, settleMs(t, t.killGraceMs));
}
