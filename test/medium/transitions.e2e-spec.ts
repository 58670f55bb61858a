import type { EntityManager } from 'typeorm';
import { JOB_TRANSITIONS, JOB_STATES, type JobState, statesInto, TASK_TRANSITIONS } from '../../src/tasks/task-states';
import {
  accept,
  claim,
  end,
  expireLease,
  finish,
  forbiddenEdges,
  jobState,
  lapse,
  LEASE_SECONDS,
  makeApprovedAgent,
  makeOrganization,
  makeTask,
  type Medium,
  openMedium,
  recordedEdges,
  settle,
} from '../helpers/medium';

interface Target {
  id: string;
  agentId: string;
  taskId: string;
}

// Every repository statement that may move a job, as its callers call it.
const STATEMENTS: Record<string, (m: Medium, job: Target, organizationId: string) => Promise<unknown>> = {
  claimOffers: (m, j) => claim(m, [{ agentId: j.agentId, maxJobs: 10 }]),
  accept: (m, j) => m.jobs.accept([{ jobId: j.id, agentId: j.agentId, attempt: 1 }], LEASE_SECONDS),
  'finish succeeded': (m, j) => finish(m, j.agentId, [end(j.id, 'succeeded')]),
  'finish failed': (m, j) => finish(m, j.agentId, [end(j.id, 'failed')]),
  'finish timed_out': (m, j) => finish(m, j.agentId, [end(j.id, 'timed_out')]),
  'finish cancelled': (m, j) => finish(m, j.agentId, [end(j.id, 'cancelled')]),
  'end offered → failed (a refusal)': (m, j) => tx(m, (em) => m.jobs.end(em, j.id, 1, ['offered'], 'failed', 'refused')),
  'end queued → failed (undelivered)': (m, j) => tx(m, (em) => m.jobs.end(em, j.id, 1, ['queued'], 'failed', 'undelivered')),
  renewLeases: (m, j) => m.jobs.renewLeases([{ agentId: j.agentId, jobId: j.id, attempt: 1 }], LEASE_SECONDS),
  requeueOffer: (m, j) => tx(m, (em) => m.jobs.requeueOffer(em, j.id, 1, 0)),
  expireOffers: (m) => m.jobs.expireOffers(),
  retry: (m, j) => tx(m, (em) => m.jobs.retry(em, j.id, 'retry')),
  markLost: (m, j) => tx(m, (em) => m.jobs.markLost(em, j.id, 'lost')),
  cancelForTask: (m, j, org) => tx(m, (em) => m.jobs.cancelForTask(em, org, j.taskId, 'cancel')),
  release: (m, j) => tx(m, (em) => m.jobs.release(em, [j.taskId])),
};

function tx<T>(m: Medium, work: (em: EntityManager) => Promise<T>): Promise<T> {
  return m.dataSource.transaction(work);
}

// What each statement does to a job in each state (with every lease lapsed, so only the state
// decides): the states it moves, and where to. Any other state is left as it was.
const EXPECTED_MOVES: Record<keyof typeof STATEMENTS, Partial<Record<JobState, JobState>>> = {
  claimOffers: { queued: 'offered' },
  accept: { offered: 'running' },
  'finish succeeded': { running: 'succeeded', unknown: 'succeeded' },
  'finish failed': { offered: 'failed', running: 'failed', unknown: 'failed' },
  'finish timed_out': { running: 'timed_out', unknown: 'timed_out' },
  'finish cancelled': { offered: 'cancelled', running: 'cancelled', unknown: 'cancelled' },
  'end offered → failed (a refusal)': { offered: 'failed' },
  'end queued → failed (undelivered)': { queued: 'failed' },
  renewLeases: { unknown: 'running' },
  requeueOffer: { offered: 'queued' },
  expireOffers: { offered: 'queued' },
  retry: { running: 'queued' },
  markLost: { running: 'unknown' },
  cancelForTask: { queued: 'cancelled', offered: 'cancelled' },
  release: {},
};

const allEdges = (table: Record<string, readonly string[]>) => Object.entries(table).flatMap(([from, tos]) => tos.map((to) => `${from}→${to}`));

// Transitions are data: the trigger the medium helper installs records every state change, and
// every statement is run against a job in every state.
describe('job and task transitions', () => {
  let m: Medium;
  let org: string;
  const outcome = new Map<string, JobState>();

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
  });
  afterAll(() => m?.close());

  /** A job (its own agent and task) brought into `state` through the engine's statements. */
  async function jobIn(state: JobState): Promise<Target> {
    const agentId = await makeApprovedAgent(m, org);
    const task = await makeTask(m, org, [agentId]);
    const job = { ...task.jobs[0], taskId: task.id };
    if (state === 'queued') return job;
    await claim(m, [{ agentId, maxJobs: 1 }]);
    if (state === 'offered') return job;
    await accept(m, [job]);
    if (state === 'running') return job;
    if (state === 'unknown') {
      await lapse(m, [job.id]);
      await expireLease(m, job.id);
    } else await finish(m, agentId, [end(job.id, state as 'succeeded' | 'failed' | 'timed_out' | 'cancelled')]);
    return job;
  }

  it('runs every statement against a job in every state', async () => {
    for (const name of Object.keys(STATEMENTS))
      for (const from of JOB_STATES) {
        const job = await jobIn(from);
        expect(await jobState(m, job.id)).toBe(from);
        await lapse(m, [job.id]);
        await STATEMENTS[name](m, job, org);
        outcome.set(`${name} on ${from}`, await jobState(m, job.id));
        await settle(m, [job.taskId]);
      }
  });

  it('moves a job only where the statement is meant to', () => {
    const got: Record<string, Partial<Record<JobState, JobState>>> = {};
    for (const name of Object.keys(STATEMENTS))
      for (const from of JOB_STATES) {
        const to = outcome.get(`${name} on ${from}`);
        if (to !== from) (got[name] ??= {})[from] = to;
      }
    expect(got).toEqual(Object.fromEntries(Object.entries(EXPECTED_MOVES).filter(([, moves]) => Object.keys(moves).length)));
    // Among them, the cases a wrong WHERE would let through: a job that never ran cannot succeed.
    expect(outcome.get('finish succeeded on offered')).toBe('offered');
    expect(outcome.get('finish timed_out on offered')).toBe('offered');
    expect(outcome.get('finish failed on succeeded')).toBe('succeeded');
    expect(outcome.get('retry on unknown')).toBe('unknown');
  });

  it('recorded no job or task edge outside JOB_TRANSITIONS and TASK_TRANSITIONS, and every job edge is one some statement takes', async () => {
    expect(await forbiddenEdges(m)).toEqual([]);
    const edges = await recordedEdges(m);
    const jobEdges = edges.filter((e) => e.table === 'jobs').map((e) => `${e.from}→${e.to}`);
    // The table and the statements agree both ways: no statement takes an edge the table lacks,
    // and the table allows no edge that no statement takes.
    expect(jobEdges.sort()).toEqual(allEdges(JOB_TRANSITIONS).sort());
    const taskEdges = edges.filter((e) => e.table === 'tasks').map((e) => `${e.from}→${e.to}`);
    expect(taskEdges.length).toBeGreaterThan(5);
    for (const edge of taskEdges) expect(allEdges(TASK_TRANSITIONS)).toContain(edge);
  });

  it('refuses, before any SQL runs, a statement that names an edge the table lacks', async () => {
    expect(() => statesInto('succeeded', ['offered'])).toThrow(/no job transition offered → succeeded/);
    const job = await jobIn('offered');
    await expect(tx(m, (em) => m.jobs.end(em, job.id, 1, ['offered'], 'succeeded', 'x'))).rejects.toThrow(/no job transition/);
    expect(await jobState(m, job.id)).toBe('offered');
  });
});
