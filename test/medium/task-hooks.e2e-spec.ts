import type { EntityManager } from 'typeorm';
import type { FinishedJob } from '../../src/tasks/jobs.repository';
import type { SettledTask } from '../../src/tasks/tasks.repository';
import {
  end,
  expireLease,
  finish,
  itMovedRowsOnlyAlongTheTables,
  jobRow,
  lapse,
  LEASE_SECONDS,
  makeApprovedAgent,
  makeOrganization,
  makeTask,
  type Medium,
  openMedium,
  run,
  taskState,
} from '../helpers/medium';

// TaskHooks: what a module that queues work hears, always inside the transaction that ended the
// job or finished the task, so a failing hook takes the change back with it.
describe('task hooks', () => {
  let m: Medium;
  let org: string;
  let agent: string;
  let kinds = 0;

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
    agent = await makeApprovedAgent(m, org);
    await m.dataSource.query(`CREATE TABLE medium_hook_log (what text NOT NULL, id uuid NOT NULL, state text NOT NULL)`);
  });
  afterAll(() => m?.close());

  /** A kind of its own per test (a kind's hooks register once), and a running task of that kind. */
  async function runningTaskOf(kind: string) {
    const task = await makeTask(m, org, [agent], { kind });
    await run(m, task.jobs);
    return { taskId: task.id, job: task.jobs[0] };
  }

  function newKind(): string {
    return `medium-kind-${++kinds}`;
  }

  async function logged(): Promise<{ what: string; id: string; state: string }[]> {
    return m.dataSource.query(`SELECT what, id, state FROM medium_hook_log`);
  }

  beforeEach(() => m.dataSource.query(`TRUNCATE medium_hook_log`));

  /** What the database outside the hook's transaction says about a job (not what the hook's transaction sees). */
  async function committedState(jobId: string): Promise<string> {
    return (await m.dataSource.query(`SELECT state FROM jobs WHERE id = $1`, [jobId]))[0].state;
  }

  it('hears ended jobs of its kind inside the settling transaction, and its writes commit with them', async () => {
    const kind = newKind();
    const heard: { jobs: FinishedJob[]; inside: string; outside: string }[] = [];
    m.hooks.register(kind, {
      jobsEnded: async (em: EntityManager, jobs: FinishedJob[]) => {
        const [{ state: inside }] = await em.query(`SELECT state FROM jobs WHERE id = $1`, [jobs[0].id]);
        heard.push({ jobs, inside, outside: await committedState(jobs[0].id) });
        for (const j of jobs) await em.query(`INSERT INTO medium_hook_log VALUES ('jobsEnded', $1, $2)`, [j.id, j.state]);
      },
    });
    const { taskId, job } = await runningTaskOf(kind);
    const other = await makeTask(m, org, [agent]); // a script job: not this kind's
    await run(m, other.jobs);

    await finish(m, agent, [end(job.id, 'failed', 1, { exitCode: 3, message: 'exit code 3' }), end(other.jobs[0].id, 'succeeded')]);

    expect(heard).toHaveLength(1);
    expect(heard[0].jobs).toEqual([expect.objectContaining({ id: job.id, taskId, organizationId: org, agentId: agent, kind, state: 'failed', message: 'exit code 3' })]);
    expect(heard[0].inside).toBe('failed');
    expect(heard[0].outside).toBe('running'); // not committed yet: the hook runs inside the transaction
    expect(await logged()).toEqual([{ what: 'jobsEnded', id: job.id, state: 'failed' }]);
  });

  it('takes the job’s finish back when its jobsEnded hook throws', async () => {
    const kind = newKind();
    m.hooks.register(kind, {
      jobsEnded: async (em: EntityManager, jobs: FinishedJob[]) => {
        await em.query(`INSERT INTO medium_hook_log VALUES ('jobsEnded', $1, $2)`, [jobs[0].id, jobs[0].state]);
        throw new Error('the orchestrator refused');
      },
    });
    const { taskId, job } = await runningTaskOf(kind);
    await expect(finish(m, agent, [end(job.id, 'succeeded')])).rejects.toThrow('the orchestrator refused');
    expect(await jobRow(m, job.id)).toMatchObject({ state: 'running', finishedAt: null });
    expect(await taskState(m, taskId)).toBe('running');
    expect(await logged()).toEqual([]);
  });

  it('hears finished tasks of its kind inside the transaction, and a throw takes the job’s finish back', async () => {
    const kind = newKind();
    let fail = true;
    const heard: { tasks: SettledTask[]; inside: string }[] = [];
    m.hooks.register(kind, {
      tasksFinished: async (em: EntityManager, tasks: SettledTask[]) => {
        const [{ state: inside }] = await em.query(`SELECT state FROM tasks WHERE id = $1`, [tasks[0].id]);
        heard.push({ tasks, inside });
        await em.query(`INSERT INTO medium_hook_log VALUES ('tasksFinished', $1, $2)`, [tasks[0].id, tasks[0].state]);
        if (fail) throw new Error('could not record the outcome');
      },
    });
    const { taskId, job } = await runningTaskOf(kind);

    await expect(finish(m, agent, [end(job.id, 'succeeded')])).rejects.toThrow('could not record the outcome');
    expect(heard).toHaveLength(1);
    expect(heard[0].inside).toBe('succeeded');
    expect(await jobRow(m, job.id)).toMatchObject({ state: 'running', finishedAt: null });
    expect(await taskState(m, taskId)).toBe('running');
    expect(await logged()).toEqual([]);

    fail = false;
    await finish(m, agent, [end(job.id, 'succeeded')]);
    expect(heard[1].tasks).toEqual([expect.objectContaining({ id: taskId, kind, from: 'running', state: 'succeeded', finished: true })]);
    expect(await logged()).toEqual([{ what: 'tasksFinished', id: taskId, state: 'succeeded' }]);
    expect(await taskState(m, taskId)).toBe('succeeded');
  });

  it('hears a lost job, and the task of a lost job again when it takes its real outcome', async () => {
    const kind = newKind();
    const ended: string[] = [];
    const finished: string[] = [];
    m.hooks.register(kind, {
      jobsEnded: async (_em, jobs) => void ended.push(...jobs.map((j) => j.state)),
      tasksFinished: async (_em, tasks) => void finished.push(...tasks.map((t) => `${t.from}→${t.state}`)),
    });
    const { job } = await runningTaskOf(kind);
    await lapse(m, [job.id]);
    expect(await expireLease(m, job.id)).toBe('lost');
    await m.jobs.renewLeases([{ agentId: agent, jobId: job.id, attempt: 1 }], LEASE_SECONDS);
    await finish(m, agent, [end(job.id, 'succeeded')]);
    expect(ended).toEqual(['unknown', 'succeeded']);
    expect(finished).toEqual(['running→failed', 'failed→succeeded']);
  });

  it('keeps the task active when its jobsEnded hook adds the next step', async () => {
    const kind = newKind();
    const finished: string[] = [];
    let steps = 0;
    m.hooks.register(kind, {
      jobsEnded: async (em, jobs) => {
        if (++steps > 1) return;
        await em.query(
          `INSERT INTO jobs (task_id, organization_id, agent_id, name, timeout_seconds, kind, payload, state, ready, queued_at)
           SELECT task_id, organization_id, agent_id, 'step 2', timeout_seconds, kind, payload, 'queued', true, now() FROM jobs WHERE id = $1`,
          [jobs[0].id],
        );
      },
      tasksFinished: async (_em, tasks) => void finished.push(...tasks.map((t) => t.state)),
    });
    const { taskId, job } = await runningTaskOf(kind);
    await finish(m, agent, [end(job.id, 'succeeded')]);
    expect(await taskState(m, taskId)).toBe('running');
    expect(finished).toEqual([]);
    const [step2] = await m.dataSource.query<{ id: string }[]>(`SELECT id FROM jobs WHERE task_id = $1 AND name = 'step 2'`, [taskId]);
    await run(m, [{ id: step2.id, agentId: agent }]);
    await finish(m, agent, [end(step2.id, 'succeeded')]);
    expect(await taskState(m, taskId)).toBe('succeeded');
    expect(finished).toEqual(['succeeded']);
  });

  itMovedRowsOnlyAlongTheTables(() => m);
});
