import { failureSummary, type Outcome } from './releases';

const target = (name: string, state: Outcome['steps'][number]['targets'][number]['state'], exitCode: number | null = null, reason: string | null = null) => ({
  agent: { name },
  state,
  exitCode,
  reason,
});

describe('failureSummary', () => {
  it('names each failed step and where it failed', () => {
    const d: Outcome = {
      state: 'failed',
      steps: [
        { name: 'migrate', state: 'succeeded', reason: null, targets: [target('db-1', 'succeeded', 0)] },
        { name: 'deploy', state: 'failed', reason: null, targets: [target('web-1', 'succeeded', 0), target('web-2', 'failed', 4), target('web-3', 'failed', null, 'the agent went offline')] },
        { name: 'verify', state: 'failed', reason: 'no agent answered in time', targets: [] },
      ],
    };
    expect(failureSummary(d)).toBe('step "deploy" failed on web-2 with exit code 4, web-3 (the agent went offline); step "verify" failed (no agent answered in time)');
  });

  it('says when nothing failed', () => {
    expect(failureSummary({ state: 'cancelled', steps: [] })).toBe('it was cancelled');
  });
});
