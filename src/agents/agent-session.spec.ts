import type { ServerMessage } from '../protocol/messages';
import { AgentSession, canMove, SESSION_TRANSITIONS, type SessionState } from './agent-session';

class FakeSession extends AgentSession {
  readonly transport = 'websocket' as const;
  readonly agent = { id: 'a1', name: 'web-01', organizationId: 'o1' };
  sent: ServerMessage[] = [];
  send(message: ServerMessage) {
    this.sent.push(message);
  }
  close() {}
}

describe('AgentSession', () => {
  it('takes offers once told it is approved, and loses every race once closed', () => {
    const s = new FakeSession();
    expect([s.state, s.takesOffers]).toEqual(['connecting', false]);
    s.heardHello({ maxJobs: 3, pinnedKeys: ['k1'], policy: null });
    expect([s.state, s.maxJobs, s.pinnedKeys]).toEqual(['hello-received', 3, ['k1']]);
    expect(s.toldStanding(false, false)).toBe(true);
    expect([s.state, s.takesOffers]).toEqual(['hello-received', false]);
    expect(s.toldStanding(true, false)).toBe(true);
    expect([s.state, s.takesOffers]).toEqual(['approved', true]);
    s.heardHello({ maxJobs: 2 });
    expect(s.state).toBe('approved');
    s.closed();
    expect(s.toldStanding(true, false)).toBe(false);
    expect([s.state, s.takesOffers]).toEqual(['closed', false]);
  });

  it('drains only an approved session; one approved on a draining node drains at once', () => {
    const pending = new FakeSession();
    pending.heardHello({ maxJobs: 1 });
    pending.sentAway();
    expect(pending.state).toBe('hello-received');
    const late = new FakeSession();
    late.heardHello({ maxJobs: 1 });
    late.toldStanding(true, true);
    expect(late.state).toBe('draining');
    const approved = new FakeSession();
    approved.heardHello({ maxJobs: 1 });
    approved.toldStanding(true, false);
    approved.sentAway();
    expect(approved.state).toBe('draining');
    expect(approved.moveTo('approved')).toBe(false);
  });

  it('has no way out of closed and no way back to connecting', () => {
    const states = Object.keys(SESSION_TRANSITIONS) as SessionState[];
    for (const from of states) {
      expect(canMove(from, 'connecting')).toBe(from === 'connecting');
      if (from !== 'closed') expect(canMove(from, 'closed')).toBe(true);
    }
    expect(states.filter((to) => canMove('closed', to))).toEqual([]);
  });
});
