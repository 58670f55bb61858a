import type { JobResult } from '../../src/protocol/messages';
import {
  accept,
  cancelTask,
  claim,
  end,
  expireLease,
  finish,
  itMovedRowsOnlyAlongTheTables,
  jobRow,
  lapse,
  LEASE_SECONDS,
  leaseLeft,
  makeAgent,
  makeApprovedAgent,
  makeOrganization,
  makeTask,
  type Medium,
  openMedium,
  run,
  taskState,
} from '../helpers/medium';

// A job's life after its offer: the statements the accept and finish batches, heartbeats, the
// lease sweep and cancels use, each case of a batch checked on its row.
describe('accepts, finishes, heartbeats and leases', () => {
  let m: Medium;
  let org: string;

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
  });
  afterAll(() => m?.close());

  async function job(agentId: string, options: Parameters<typeof makeTask>[3] = {}): Promise<{ id: string; agentId: string; taskId: string }> {
    const task = await makeTask(m, org, [agentId], options);
    return { ...task.jobs[0], taskId: task.id };
  }

  async function runningJob(agentId: string, options: Parameters<typeof makeTask>[3] = {}) {
    const j = await job(agentId, options);
    await run(m, [j]);
    return j;
  }

  it('starts, in one statement, only the offered jobs of approved agents with the attempt named, and settles their tasks', async () => {
    const a = await makeApprovedAgent(m, org);
    const b = await makeApprovedAgent(m, org);
    const revoked = await makeApprovedAgent(m, org);
    const offered = await job(a);
    const wrongAttempt = await job(a);
    const running = await runningJob(a);
    const othersJob = await job(b);
    const revokedJob = await job(revoked);
    await claim(m, [
      { agentId: a, maxJobs: 10 },
      { agentId: b, maxJobs: 10 },
      { agentId: revoked, maxJobs: 10 },
    ]);
    const queued = await job(a); // after the claim: still queued
    await m.dataSource.query(`UPDATE agents SET status = 'revoked' WHERE id = $1`, [revoked]);
    const runningBefore = await jobRow(m, running.id);

    const { rows: locked, started } = await m.jobs.accept(
      [
        { jobId: offered.id, agentId: a, attempt: 1 },
        { jobId: wrongAttempt.id, agentId: a, attempt: 2 },
        { jobId: running.id, agentId: a, attempt: 1 },
        { jobId: queued.id, agentId: a, attempt: 1 },
        { jobId: othersJob.id, agentId: a, attempt: 1 },
        { jobId: revokedJob.id, agentId: revoked, attempt: 1 },
      ],
      LEASE_SECONDS,
    );

    expect([...locked.keys()].sort()).toEqual([offered.id, wrongAttempt.id, running.id, queued.id, revokedJob.id].sort()); // not b's job, asked for as a's
    expect(locked.get(offered.id)).toMatchObject({ state: 'offered', attempt: 1, taskId: offered.taskId, agentId: a, organizationId: org, kind: 'script' });
    expect([...started]).toEqual([offered.id]);
    const row = await jobRow(m, offered.id);
    expect(row.state).toBe('running');
    expect(row.startedAt).not.toBeNull();
    expect(await leaseLeft(m, offered.id)).toBeGreaterThan(LEASE_SECONDS - 5);
    expect(await taskState(m, offered.taskId)).toBe('running');
    expect(await taskState(m, wrongAttempt.taskId)).toBe('queued');
    expect((await jobRow(m, wrongAttempt.id)).state).toBe('offered');
    expect((await jobRow(m, running.id)).startedAt).toEqual(runningBefore.startedAt);
    expect((await jobRow(m, queued.id)).state).toBe('queued');
    expect((await jobRow(m, revokedJob.id)).state).toBe('offered');
    expect((await jobRow(m, othersJob.id)).state).toBe('offered');
  });

  it('ends, in one batch, each job by its outcome, and leaves stale, foreign, finished and unstarted reports alone', async () => {
    const a = await makeApprovedAgent(m, org);
    const b = await makeApprovedAgent(m, org);
    const succeeded = await runningJob(a, { secrets: ['s3cr3t'] });
    const failed = await runningJob(a);
    const timedOut = await runningJob(a);
    const cancelled = await runningJob(a);
    const withResult = await runningJob(a, { jobKind: 'health-check' });
    const foreignResult = await runningJob(a);
    const stale = await runningJob(a, { idempotent: true, maxAttempts: 2 });
    await lapse(m, [stale.id]);
    expect(await expireLease(m, stale.id)).toBe('retried');
    await run(m, [stale]); // attempt 2 runs
    const foreign = await runningJob(b);
    const done = await runningJob(a);
    await finish(m, a, [end(done.id, 'succeeded')]);
    const lost = await runningJob(a);
    await lapse(m, [lost.id]);
    expect(await expireLease(m, lost.id)).toBe('lost');
    expect(await taskState(m, lost.taskId)).toBe('failed');
    const offeredFails = await job(a);
    const offeredSucceeds = await job(a);
    await claim(m, [{ agentId: a, maxJobs: 100 }]);
    const result = { kind: 'health-check', verdict: 'healthy', problems: [] } as unknown as JobResult;

    const { finished } = await finish(m, a, [
      end(succeeded.id, 'succeeded'),
      end(failed.id, 'failed', 1, { exitCode: 2, message: 'exit code 2' }),
      end(timedOut.id, 'timed_out', 1, { signal: 'SIGKILL', message: 'timed out after 300 s' }),
      end(cancelled.id, 'cancelled', 1, { signal: 'SIGTERM' }),
      end(withResult.id, 'succeeded', 1, { result }),
      end(foreignResult.id, 'succeeded', 1, { result }),
      end(stale.id, 'succeeded', 1),
      end(foreign.id, 'succeeded'),
      end(done.id, 'failed', 1, { exitCode: 9 }),
      end(lost.id, 'succeeded'),
      end(offeredFails.id, 'failed', 1, { message: 'could not start' }),
      end(offeredSucceeds.id, 'succeeded'),
    ]);

    expect([...finished].sort()).toEqual([succeeded.id, failed.id, timedOut.id, cancelled.id, withResult.id, foreignResult.id, lost.id, offeredFails.id].sort());
    const ended = { leaseExpiresAt: null, secrets: [] };
    expect(await jobRow(m, succeeded.id)).toMatchObject({ ...ended, state: 'succeeded', exitCode: 0, message: null });
    expect((await jobRow(m, succeeded.id)).finishedAt).not.toBeNull();
    expect(await jobRow(m, failed.id)).toMatchObject({ ...ended, state: 'failed', exitCode: 2, message: 'exit code 2' });
    expect(await jobRow(m, timedOut.id)).toMatchObject({ ...ended, state: 'timed_out', message: 'timed out after 300 s' });
    expect((await m.dataSource.query(`SELECT signal FROM jobs WHERE id = $1`, [timedOut.id]))[0].signal).toBe('SIGKILL');
    expect(await jobRow(m, cancelled.id)).toMatchObject({ ...ended, state: 'cancelled' });
    expect(await jobRow(m, withResult.id)).toMatchObject({ ...ended, state: 'succeeded', result });
    expect(await jobRow(m, foreignResult.id)).toMatchObject({ ...ended, state: 'succeeded', result: null }); // a result of another kind is not kept
    expect(await jobRow(m, stale.id)).toMatchObject({ state: 'running', attempt: 2 });
    expect(await jobRow(m, foreign.id)).toMatchObject({ state: 'running', finishedAt: null });
    expect(await jobRow(m, done.id)).toMatchObject({ state: 'succeeded', exitCode: 0 });
    expect(await jobRow(m, lost.id)).toMatchObject({ ...ended, state: 'succeeded' });
    expect(await jobRow(m, offeredFails.id)).toMatchObject({ ...ended, state: 'failed', message: 'could not start' });
    expect((await jobRow(m, offeredSucceeds.id)).state).toBe('offered'); // it never ran: it cannot have succeeded

    expect(await taskState(m, succeeded.taskId)).toBe('succeeded');
    expect(await taskState(m, failed.taskId)).toBe('failed');
    expect(await taskState(m, timedOut.taskId)).toBe('timed_out');
    expect(await taskState(m, cancelled.taskId)).toBe('cancelled');
    expect(await taskState(m, stale.taskId)).toBe('running');
    expect(await taskState(m, foreign.taskId)).toBe('running');
    expect(await taskState(m, done.taskId)).toBe('succeeded');
    expect(await taskState(m, lost.taskId)).toBe('succeeded'); // failed by the lost lease, then the real outcome
    expect(await taskState(m, offeredFails.taskId)).toBe('failed');
    expect(await taskState(m, offeredSucceeds.taskId)).toBe('queued');
  });

  it('renews the leases its agents report, brings a lost job back to running, and ignores the rest', async () => {
    const a = await makeApprovedAgent(m, org);
    const b = await makeApprovedAgent(m, org);
    const running = await runningJob(a);
    const lost = await runningJob(a);
    await lapse(m, [lost.id]);
    expect(await expireLease(m, lost.id)).toBe('lost');
    expect(await jobRow(m, lost.id)).toMatchObject({ state: 'unknown', leaseExpiresAt: null });
    const foreign = await runningJob(b);
    const finished = await runningJob(a);
    await finish(m, a, [end(finished.id, 'succeeded')]);
    const offered = await job(a);
    await claim(m, [{ agentId: a, maxJobs: 100 }]);
    await m.dataSource.query(`UPDATE jobs SET lease_expires_at = now() + interval '5 seconds' WHERE id = ANY($1::uuid[])`, [[running.id, foreign.id, offered.id]]);

    const renewed = await m.jobs.renewLeases(
      [
        { agentId: a, jobId: running.id, attempt: 1 },
        { agentId: a, jobId: lost.id, attempt: 1 },
        { agentId: a, jobId: foreign.id, attempt: 1 },
        { agentId: a, jobId: finished.id, attempt: 1 },
        { agentId: a, jobId: offered.id, attempt: 1 },
        { agentId: a, jobId: running.id, attempt: 2 },
      ],
      LEASE_SECONDS,
    );

    expect(renewed.map((r) => r.id).sort()).toEqual([running.id, lost.id].sort());
    expect(renewed.every((r) => r.attempt === 1 && !r.cancelRequested)).toBe(true);
    expect(await leaseLeft(m, running.id)).toBeGreaterThan(LEASE_SECONDS - 5);
    expect(await jobRow(m, lost.id)).toMatchObject({ state: 'running', message: null });
    expect(await leaseLeft(m, lost.id)).toBeGreaterThan(LEASE_SECONDS - 5);
    expect(await leaseLeft(m, foreign.id)).toBeLessThan(6);
    expect(await leaseLeft(m, offered.id)).toBeLessThan(6);
    expect((await jobRow(m, offered.id)).state).toBe('offered');
    expect(await jobRow(m, finished.id)).toMatchObject({ state: 'succeeded', leaseExpiresAt: null });
    // The task failed by the lost lease stays failed while its job runs again (a finished task is never active again)...
    expect(await taskState(m, lost.taskId)).toBe('failed');
    // ...and takes the real outcome when the job reports it.
    await finish(m, a, [end(lost.id, 'succeeded')]);
    expect(await taskState(m, lost.taskId)).toBe('succeeded');
  });

  it('marks a lapsed lease lost, or runs an idempotent job again as its next attempt with a fresh log', async () => {
    const a = await makeApprovedAgent(m, org);
    const fresh = await runningJob(a);
    const plain = await runningJob(a);
    const retried = await runningJob(a, { idempotent: true, maxAttempts: 2 });
    const offered = await job(a);
    await claim(m, [{ agentId: a, maxJobs: 100 }]);
    await m.dataSource.transaction((em) =>
      m.logs.appendLog(em, { id: retried.id, taskId: retried.taskId, attempt: 1 }, 3, [{ stream: 'stdout', text: 'attempt one\n' }], {
        nextLogSeq: 3,
        logBytes: 12,
        logTruncated: true,
        maskCarry: { stdout: 's3' },
      }),
    );
    await lapse(m, [plain.id, retried.id, offered.id]);

    const lapsed = (await m.jobs.findLapsedLeases()).filter((l) => [fresh.id, plain.id, retried.id, offered.id].includes(l.id));
    expect(lapsed.map((l) => l.id).sort()).toEqual([plain.id, retried.id].sort());
    expect(lapsed.find((l) => l.id === retried.id)).toMatchObject({ agentId: a, idempotent: true, attempt: 1, maxAttempts: 2 });
    // Neither statement touches a lease that has not lapsed.
    await m.dataSource.transaction(async (em) => {
      expect(await m.jobs.markLost(em, fresh.id, 'x')).toBe(false);
      expect(await m.jobs.retry(em, fresh.id, 'x')).toBe(false);
    });
    expect((await jobRow(m, fresh.id)).state).toBe('running');

    expect(await expireLease(m, plain.id)).toBe('lost');
    expect(await jobRow(m, plain.id)).toMatchObject({ state: 'unknown', attempt: 1, leaseExpiresAt: null, message: 'lost' });
    expect(await taskState(m, plain.taskId)).toBe('failed');

    expect(await expireLease(m, retried.id)).toBe('retried');
    const again = await jobRow(m, retried.id);
    expect(again).toMatchObject({
      state: 'queued',
      attempt: 2,
      ready: true,
      leaseExpiresAt: null,
      offeredAt: null,
      startedAt: null,
      nextLogSeq: 0,
      logBytes: 0,
      logTruncated: false,
      maskCarry: {},
      message: 'lost; retrying',
    });
    expect(again.queuedAt).not.toBeNull();
    expect(await taskState(m, retried.taskId)).toBe('running'); // a started task does not go back to queued
    // The first attempt's log is kept, under its attempt.
    expect(await m.dataSource.query(`SELECT attempt, text FROM log_chunks WHERE job_id = $1`, [retried.id])).toEqual([{ attempt: 1, text: 'attempt one\n' }]);
    // Offered again as attempt 2; once that one's lease lapses too, no attempt is left: lost.
    const [offer] = await claim(m, [{ agentId: a, maxJobs: 100 }]);
    expect(offer.offers.map((o) => [o.id, o.attempt])).toEqual([[retried.id, 2]]);
    expect(await accept(m, [retried])).toEqual(new Set([retried.id]));
    await lapse(m, [retried.id]);
    expect(await expireLease(m, retried.id)).toBe('lost');
    expect(await jobRow(m, retried.id)).toMatchObject({ state: 'unknown', attempt: 2 });
    // A lapsed offer is not a lapsed lease.
    expect((await jobRow(m, offered.id)).state).toBe('offered');
  });

  it('cancels what has not started, flags what runs, and the task is cancelled once that reports', async () => {
    const [x, y, z] = [await makeApprovedAgent(m, org), await makeApprovedAgent(m, org), await makeApprovedAgent(m, org)];
    const task = await makeTask(m, org, [x, y, z]);
    const [queued, offered, running] = task.jobs;
    await claim(m, [{ agentId: y, maxJobs: 1 }]);
    await run(m, [running]);
    expect(await taskState(m, task.id)).toBe('running');

    const { cancelled, running: flagged } = await cancelTask(m, org, task.id);
    expect(cancelled.sort()).toEqual([queued.id, offered.id].sort());
    expect(flagged).toEqual([running.id]);
    expect(await jobRow(m, queued.id)).toMatchObject({ state: 'cancelled', leaseExpiresAt: null, message: 'cancelled by medium test' });
    expect(await jobRow(m, offered.id)).toMatchObject({ state: 'cancelled', leaseExpiresAt: null });
    expect((await jobRow(m, running.id)).state).toBe('running');
    expect(await taskState(m, task.id)).toBe('cancelling');
    expect(await m.jobs.findCancelRequested([z])).toEqual([{ id: running.id, attempt: 1, agentId: z }]);
    expect(await m.jobs.renewLeases([{ agentId: z, jobId: running.id, attempt: 1 }], LEASE_SECONDS)).toEqual([{ id: running.id, attempt: 1, cancelRequested: true }]);

    await finish(m, z, [end(running.id, 'cancelled')]);
    expect(await taskState(m, task.id)).toBe('cancelled');
    expect(await m.jobs.findCancelRequested([z])).toEqual([]);
  });

  it('does not start a job offered to an agent revoked since, nor let a pending agent be targeted', async () => {
    const agent = await makeApprovedAgent(m, org);
    const pending = await makeAgent(m, org, 'pending');
    const j = await job(agent);
    await claim(m, [{ agentId: agent, maxJobs: 1 }]);
    await m.dataSource.query(`UPDATE agents SET status = 'revoked' WHERE id = $1`, [agent]);
    expect(await accept(m, [j])).toEqual(new Set());
    expect((await jobRow(m, j.id)).state).toBe('offered');
    await expect(makeTask(m, org, [pending])).rejects.toThrow(/left the task out/);
  });

  itMovedRowsOnlyAlongTheTables(() => m);
});
