import type { EntityManager } from 'typeorm';
import { Announcements } from '../../src/tasks/task-progress.service';
import {
  cancelTask,
  end,
  finish,
  itMovedRowsOnlyAlongTheTables,
  makeAgent,
  makeApprovedAgent,
  makeOrganization,
  makeTask,
  type Medium,
  openMedium,
  run,
  settle,
  taskRowOf,
  taskState,
} from '../helpers/medium';

// A task its kind's module holds open (an orchestrator): it may start with no jobs, gets jobs as
// the module decides, does not finish when they do, and ends with the outcome the module concludes.
describe('held tasks', () => {
  let m: Medium;
  let org: string;
  let agent: string;
  let kinds = 0;

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
    agent = await makeApprovedAgent(m, org);
  });
  afterAll(() => m?.close());

  const newKind = () => `held-kind-${++kinds}`;
  const heldTask = (kind = newKind(), extra: { concurrencyKey?: string; blockedBy?: string } = {}) => makeTask(m, org, [], { kind, held: true, ...extra });
  const addJobs = async (taskId: string, agentIds: string[]) => {
    const task = await taskRowOf(m, taskId);
    return m.dataSource.transaction((em) =>
      m.tasks.insertJobs(
        em,
        { id: taskId, organizationId: org, blockedBy: task.blockedBy },
        agentIds.map((agentId) => ({ agentId, name: 'step', timeoutSeconds: 60, kind: 'script', payload: { payloadVersion: 1, script: { syntax: 'sh', body: 'true' } }, secrets: [] })),
      ),
    );
  };
  const conclude = (taskId: string, outcome: 'succeeded' | 'failed' | 'cancelled' | null) =>
    m.dataSource.transaction(async (em) => {
      await m.tasks.conclude(em, org, taskId, outcome);
      return m.progress.settle(em, [taskId], [], new Announcements());
    });

  it('starts with no jobs and stays queued, even when settled', async () => {
    const task = await heldTask();
    expect(task.jobs).toEqual([]);
    await settle(m, [task.id]);
    expect(await taskState(m, task.id)).toBe('queued');
  });

  it('runs the jobs added to it, and stays running between them', async () => {
    const task = await heldTask();
    const [first] = await addJobs(task.id, [agent]);
    await run(m, [first]);
    expect(await taskState(m, task.id)).toBe('running');
    await finish(m, agent, [end(first.id, 'failed')]);
    // A failed job does not fail it: its module decides.
    expect(await taskState(m, task.id)).toBe('running');
    const [second] = await addJobs(task.id, [agent]);
    await run(m, [second]);
    await finish(m, agent, [end(second.id, 'succeeded')]);
    expect(await taskState(m, task.id)).toBe('running');
    const settled = await conclude(task.id, 'succeeded');
    expect(settled).toEqual([expect.objectContaining({ id: task.id, from: 'running', state: 'succeeded', finished: true })]);
    expect((await taskRowOf(m, task.id)).finishedAt).not.toBeNull();
  });

  it('without an outcome, takes its jobs’ outcome once concluded', async () => {
    const task = await heldTask();
    const [job] = await addJobs(task.id, [agent]);
    await run(m, [job]);
    await finish(m, agent, [end(job.id, 'failed')]);
    await conclude(task.id, null);
    expect(await taskState(m, task.id)).toBe('failed');
  });

  it('ends at once when concluded with no job at all', async () => {
    const task = await heldTask();
    await conclude(task.id, 'failed');
    expect(await taskState(m, task.id)).toBe('failed');
  });

  it('is cancelling while held after a cancel, and cancelled once concluded', async () => {
    const task = await heldTask();
    const [job] = await addJobs(task.id, [agent]);
    await run(m, [job]);
    await cancelTask(m, org, task.id);
    await finish(m, agent, [end(job.id, 'cancelled')]);
    expect(await taskState(m, task.id)).toBe('cancelling');
    await conclude(task.id, 'cancelled');
    expect(await taskState(m, task.id)).toBe('cancelled');
  });

  it('tells its kind when it reaches the front of its concurrency key', async () => {
    const kind = newKind();
    const ready: string[][] = [];
    m.hooks.register(kind, {
      tasksReady: async (_em: EntityManager, tasks) => {
        ready.push(tasks.map((t) => t.id));
      },
    });
    const ahead = await heldTask(kind, { concurrencyKey: 'prod' });
    const behind = await heldTask(kind, { concurrencyKey: 'prod', blockedBy: ahead.id });
    // Jobs added while it waits are not claimable until it is at the front.
    const [waiting] = await addJobs(behind.id, [agent]);
    expect((await m.dataSource.query(`SELECT ready FROM jobs WHERE id = $1`, [waiting.id]))[0].ready).toBe(false);
    await conclude(ahead.id, 'succeeded');
    expect(ready).toEqual([[behind.id]]);
    expect((await taskRowOf(m, behind.id)).blockedBy).toBeNull();
    expect((await m.dataSource.query(`SELECT ready FROM jobs WHERE id = $1`, [waiting.id]))[0].ready).toBe(true);
  });

  it('adds jobs only for approved agents of its own organisation', async () => {
    const stranger = await makeAgent(m, await makeOrganization(m), 'approved');
    const pending = await makeAgent(m, org, 'pending');
    const task = await heldTask();
    const added = await addJobs(task.id, [stranger, agent, pending]);
    expect(added.map((j) => j.agentId)).toEqual([agent]);
  });

  itMovedRowsOnlyAlongTheTables(() => m);
});
