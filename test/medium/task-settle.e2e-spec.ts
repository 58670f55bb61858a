import type { JobOutcome } from '../../src/protocol/messages';
import { Announcements } from '../../src/tasks/task-progress.service';
import {
  cancelTask,
  claim,
  end,
  expireLease,
  finish,
  historyOf,
  itMovedRowsOnlyAlongTheTables,
  jobRow,
  lapse,
  LEASE_SECONDS,
  makeApprovedAgent,
  makeOrganization,
  makeTask,
  type MadeTask,
  type Medium,
  openMedium,
  run,
  settle,
  taskRowOf,
  taskState,
} from '../helpers/medium';

// TasksRepository.settle, the one place a task's state is derived from its jobs', and the
// concurrency-key hand-over TaskProgress.settle does when a keyed task finishes.
describe('task state and concurrency keys', () => {
  let m: Medium;
  let org: string;

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
  });
  afterAll(() => m?.close());

  /** A task with one job per new agent. */
  async function taskOf(n: number, options: Parameters<typeof makeTask>[3] = {}): Promise<MadeTask> {
    const agents: string[] = [];
    for (let i = 0; i < n; i++) agents.push(await makeApprovedAgent(m, org));
    return makeTask(m, org, agents, options);
  }

  /** Runs each job and ends it with its outcome ('unknown': its lease lapses), in order; null leaves it running. */
  async function play(task: MadeTask, outcomes: (JobOutcome | 'unknown' | null)[]): Promise<void> {
    await run(m, task.jobs);
    for (const [i, outcome] of outcomes.entries()) {
      const job = task.jobs[i];
      if (outcome === 'unknown') {
        await lapse(m, [job.id]);
        expect(await expireLease(m, job.id)).toBe('lost');
      } else if (outcome) await finish(m, job.agentId, [end(job.id, outcome)]);
    }
  }

  describe('derives a task’s state from its jobs', () => {
    it('is queued until a job is accepted, then running', async () => {
      const task = await taskOf(2);
      await claim(m, [{ agentId: task.jobs[0].agentId, maxJobs: 1 }]);
      expect(await settle(m, [task.id])).toEqual([]);
      expect(await taskRowOf(m, task.id)).toMatchObject({ state: 'queued', startedAt: null });
      await run(m, [task.jobs[0]]);
      const row = await taskRowOf(m, task.id);
      expect(row).toMatchObject({ state: 'running', finishedAt: null });
      expect(row.startedAt).not.toBeNull();
    });

    it('stays running while any job is active, and succeeds only when every job did', async () => {
      const task = await taskOf(3);
      await play(task, ['succeeded', 'succeeded', null]);
      expect(await taskState(m, task.id)).toBe('running');
      const { settled } = await finish(m, task.jobs[2].agentId, [end(task.jobs[2].id, 'succeeded')]);
      expect(settled).toEqual([expect.objectContaining({ id: task.id, kind: 'script', from: 'running', state: 'succeeded', finished: true })]);
      expect((await taskRowOf(m, task.id)).finishedAt).not.toBeNull();
    });

    it.each<[string, (JobOutcome | 'unknown')[], string]>([
      ['a failed job fails it', ['succeeded', 'failed'], 'failed'],
      ['a lost (unknown) job fails it', ['succeeded', 'unknown'], 'failed'],
      ['a failure wins over a timeout', ['timed_out', 'failed'], 'failed'],
      ['a timeout times it out', ['succeeded', 'timed_out'], 'timed_out'],
      ['a job the agent cancelled cancels it', ['succeeded', 'cancelled'], 'cancelled'],
      ['a timeout wins over an agent’s cancel', ['cancelled', 'timed_out'], 'timed_out'],
    ])('once no job is active: %s', async (_name, outcomes, expected) => {
      const task = await taskOf(outcomes.length);
      await play(task, outcomes);
      expect(await taskState(m, task.id)).toBe(expected);
    });

    it('is cancelling while a job runs after a cancel was asked, and cancelled (over a failure) once a job was cancelled', async () => {
      const task = await taskOf(2);
      await run(m, [task.jobs[0]]);
      const { cancelled } = await cancelTask(m, org, task.id);
      expect(cancelled).toEqual([task.jobs[1].id]);
      expect(await taskState(m, task.id)).toBe('cancelling');
      await finish(m, task.jobs[0].agentId, [end(task.jobs[0].id, 'failed')]);
      expect(await taskState(m, task.id)).toBe('cancelled');
    });

    it('takes its jobs’ outcome when a cancel was asked but nothing was cancelled', async () => {
      const task = await taskOf(1);
      await run(m, task.jobs);
      await cancelTask(m, org, task.id);
      expect(await taskState(m, task.id)).toBe('cancelling');
      await finish(m, task.jobs[0].agentId, [end(task.jobs[0].id, 'succeeded')]);
      expect(await taskState(m, task.id)).toBe('succeeded');
    });

    it('goes from queued straight to cancelled, or to failed, when no job ever started', async () => {
      const cancelled = await taskOf(2);
      await cancelTask(m, org, cancelled.id);
      expect(await historyOf(m, cancelled.id)).toEqual(['queued→cancelled']);

      const undelivered = await taskOf(1);
      await m.dataSource.transaction(async (em) => {
        const job = await m.jobs.lockJob(em, undelivered.jobs[0].id);
        expect(await m.jobs.end(em, job!.id, 1, ['queued'], 'failed', 'no agent accepted it')).toBe(true);
        await m.progress.settle(em, [undelivered.id], [job!], new Announcements());
      });
      expect(await historyOf(m, undelivered.id)).toEqual(['queued→failed']);
    });

    it('takes the real outcome, once, when the lost job of a failed task reports after all', async () => {
      const task = await taskOf(2);
      await play(task, ['succeeded', 'unknown']);
      expect(await taskState(m, task.id)).toBe('failed');
      const { settled } = await finish(m, task.jobs[1].agentId, [end(task.jobs[1].id, 'succeeded')]);
      expect(settled).toEqual([expect.objectContaining({ id: task.id, from: 'failed', state: 'succeeded', finished: true })]);
      expect(await historyOf(m, task.id)).toEqual(['queued→running', 'running→failed', 'failed→succeeded']);

      // A task that failed for a real failure keeps it, whatever its lost job says later.
      const failed = await taskOf(2);
      await play(failed, ['failed', 'unknown']);
      await finish(m, failed.jobs[1].agentId, [end(failed.jobs[1].id, 'succeeded')]);
      expect(await taskState(m, failed.id)).toBe('failed');
    });

    it('never makes a finished task active again', async () => {
      // The lost job comes back (its agent's heartbeat): the failed task stays failed while it runs.
      const lost = await taskOf(1);
      await play(lost, ['unknown']);
      await m.jobs.renewLeases([{ agentId: lost.jobs[0].agentId, jobId: lost.jobs[0].id, attempt: 1 }], LEASE_SECONDS);
      expect((await jobRow(m, lost.jobs[0].id)).state).toBe('running');
      expect(await settle(m, [lost.id])).toEqual([]);
      expect(await taskState(m, lost.id)).toBe('failed');

      // A job added to a task that already succeeded (as a late hook might) does not reopen it.
      const done = await taskOf(1);
      await play(done, ['succeeded']);
      await m.dataSource.query(
        `INSERT INTO jobs (task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, state, ready, queued_at)
         SELECT task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, 'queued', true, now() FROM jobs WHERE id = $1`,
        [done.jobs[0].id],
      );
      expect(await settle(m, [done.id])).toEqual([]);
      expect(await taskRowOf(m, done.id)).toMatchObject({ state: 'succeeded' });
    });
  });

  describe('hands a concurrency key on when its task finishes', () => {
    it('releases the next task’s jobs (and only the next’s) when the first finishes', async () => {
      const [a, b, c] = [await makeApprovedAgent(m, org), await makeApprovedAgent(m, org), await makeApprovedAgent(m, org)];
      const first = await makeTask(m, org, [a], { concurrencyKey: 'deploy' });
      const second = await makeTask(m, org, [b, c], { concurrencyKey: 'deploy', blockedBy: first.id });
      const third = await makeTask(m, org, [a], { concurrencyKey: 'deploy', blockedBy: second.id });
      for (const job of [...second.jobs, ...third.jobs]) expect(await jobRow(m, job.id)).toMatchObject({ state: 'queued', ready: false, queuedAt: null });
      const claimed = await claim(
        m,
        [a, b, c].map((agentId) => ({ agentId, maxJobs: 10 })),
      );
      expect(claimed.flatMap((cl) => cl.offers.map((o) => o.id))).toEqual([first.jobs[0].id]);
      await run(m, first.jobs);

      const { out } = await finish(m, a, [end(first.jobs[0].id, 'succeeded')]);

      expect(await taskRowOf(m, first.id)).toMatchObject({ state: 'succeeded', blockedBy: null });
      expect((await taskRowOf(m, second.id)).blockedBy).toBeNull();
      for (const job of second.jobs) {
        const row = await jobRow(m, job.id);
        expect(row).toMatchObject({ state: 'queued', ready: true });
        expect(row.queuedAt).not.toBeNull();
      }
      expect([...out.agents].sort()).toEqual([b, c].sort());
      expect((await taskRowOf(m, third.id)).blockedBy).toBe(second.id);
      expect((await jobRow(m, third.jobs[0].id)).ready).toBe(false);
      const next = await claim(
        m,
        [a, b, c].map((agentId) => ({ agentId, maxJobs: 10 })),
      );
      expect(next.flatMap((cl) => cl.offers.map((o) => o.id)).sort()).toEqual(second.jobs.map((j) => j.id).sort());
    });

    it('hands on the wait of a task cancelled while it waited, and a failed task hands on once', async () => {
      const a = await makeApprovedAgent(m, org);
      const first = await makeTask(m, org, [a], { concurrencyKey: 'k2' });
      const second = await makeTask(m, org, [a], { concurrencyKey: 'k2', blockedBy: first.id });
      const third = await makeTask(m, org, [a], { concurrencyKey: 'k2', blockedBy: second.id });
      await run(m, first.jobs);

      await cancelTask(m, org, second.id);
      expect(await taskRowOf(m, second.id)).toMatchObject({ state: 'cancelled', blockedBy: null });
      // The third now waits for what the second waited for: still not claimable.
      expect((await taskRowOf(m, third.id)).blockedBy).toBe(first.id);
      expect((await jobRow(m, third.jobs[0].id)).ready).toBe(false);

      await lapse(m, [first.jobs[0].id]);
      expect(await expireLease(m, first.jobs[0].id)).toBe('lost');
      expect(await taskState(m, first.id)).toBe('failed');
      expect((await taskRowOf(m, third.id)).blockedBy).toBeNull();
      expect((await jobRow(m, third.jobs[0].id)).ready).toBe(true);

      // The lost job reports after all: the first task takes its outcome, and hands nothing on again.
      await m.jobs.renewLeases([{ agentId: a, jobId: first.jobs[0].id, attempt: 1 }], LEASE_SECONDS);
      const { out, settled } = await finish(m, a, [end(first.jobs[0].id, 'succeeded')]);
      expect(settled).toEqual([expect.objectContaining({ id: first.id, from: 'failed', state: 'succeeded', keyed: true })]);
      expect(out.agents.size).toBe(0);
      expect((await taskRowOf(m, third.id)).blockedBy).toBeNull();
    });
  });

  itMovedRowsOnlyAlongTheTables(() => m);
});
