import { JOB_STATES, JOB_TRANSITIONS, jobMoveAllowed, statesInto, TASK_STATES, TASK_TRANSITIONS, taskEdges } from './task-states';

describe('JOB_TRANSITIONS', () => {
  it('lets no finished job move, except unknown, which the agent may still settle', () => {
    for (const state of JOB_STATES) {
      const finished = ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(state);
      expect(JOB_TRANSITIONS[state].length === 0).toBe(finished);
    }
    expect(JOB_TRANSITIONS.unknown).toContain('running');
  });

  it('never lets a job that did not run succeed or time out', () => {
    expect(JOB_TRANSITIONS.queued).not.toContain('succeeded');
    expect(JOB_TRANSITIONS.offered).not.toEqual(expect.arrayContaining(['succeeded']));
    expect(JOB_TRANSITIONS.offered).not.toContain('timed_out');
  });
});

describe('TASK_TRANSITIONS', () => {
  it('lets no finished task become active again; only a failed one may take its real outcome later', () => {
    for (const state of ['succeeded', 'cancelled', 'timed_out'] as const) expect(TASK_TRANSITIONS[state]).toEqual([]);
    expect(TASK_TRANSITIONS.failed.some((s) => ['queued', 'running', 'cancelling'].includes(s))).toBe(false);
    expect(taskEdges().match(/\('\w+', '\w+'\)/g)).toHaveLength(TASK_STATES.reduce((n, s) => n + TASK_TRANSITIONS[s].length, 0));
    expect(taskEdges()).toContain(`('queued', 'running')`);
  });
});

describe('statesInto', () => {
  it('gives the from-states of an edge as an SQL list, and refuses an edge the table lacks', () => {
    expect(statesInto('offered', ['queued'])).toBe(`('queued')`);
    expect(statesInto('cancelled', ['queued', 'offered'])).toBe(`('queued', 'offered')`);
    expect(() => statesInto('succeeded', ['offered'])).toThrow(/no job transition offered → succeeded/);
  });
});

describe('jobMoveAllowed', () => {
  it('allows per target only the from-states the table has', () => {
    const sql = jobMoveAllowed('j.state', 'r.outcome', ['succeeded', 'failed'], ['offered', 'running', 'unknown']);
    expect(sql).toBe(`CASE r.outcome WHEN 'succeeded' THEN j.state IN ('running', 'unknown') WHEN 'failed' THEN j.state IN ('offered', 'running', 'unknown') ELSE false END`);
  });
});
