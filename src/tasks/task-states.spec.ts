import { deriveTaskState, JOB_STATES, JOB_TRANSITIONS } from './task-states';

describe('deriveTaskState', () => {
  it('is queued until a job is accepted, then running, and cancelling once cancel is asked', () => {
    expect(deriveTaskState(['queued', 'offered'], false)).toBe('queued');
    expect(deriveTaskState(['running', 'queued'], false)).toBe('running');
    expect(deriveTaskState(['succeeded', 'offered'], false)).toBe('running');
    expect(deriveTaskState(['running'], true)).toBe('cancelling');
  });

  it('succeeds only when every job did; a failed or unknown job fails it', () => {
    expect(deriveTaskState(['succeeded', 'succeeded'], false)).toBe('succeeded');
    expect(deriveTaskState(['succeeded', 'failed'], false)).toBe('failed');
    expect(deriveTaskState(['succeeded', 'unknown'], false)).toBe('failed');
    expect(deriveTaskState(['succeeded', 'timed_out'], false)).toBe('timed_out');
  });

  it('is cancelled when a cancel was asked and a job was cancelled, whatever the others did', () => {
    expect(deriveTaskState(['cancelled', 'failed'], true)).toBe('cancelled');
    expect(deriveTaskState(['succeeded'], true)).toBe('succeeded');
  });
});

describe('JOB_TRANSITIONS', () => {
  it('lets no finished job move, except unknown, which the agent may still settle', () => {
    for (const state of JOB_STATES) {
      const finished = ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(state);
      expect(JOB_TRANSITIONS[state].length === 0).toBe(finished);
    }
    expect(JOB_TRANSITIONS.unknown).toContain('running');
  });
});
