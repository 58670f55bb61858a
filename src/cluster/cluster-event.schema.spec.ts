import { parseClusterEvent } from './cluster-event.schema';

describe('cluster event schemas', () => {
  it('reads each kind with its fields', () => {
    expect(parseClusterEvent(JSON.stringify({ kind: 'jobs-ready', agentIds: ['a', 'b'], cancels: true, from: 'n1' }))).toEqual({
      event: { kind: 'jobs-ready', agentIds: ['a', 'b'], cancels: true, from: 'n1' },
    });
    expect(parseClusterEvent(JSON.stringify({ kind: 'keys-changed' }))).toEqual({ event: { kind: 'keys-changed' } });
    expect(parseClusterEvent(JSON.stringify({ kind: 'secret-keys-loaded', nodeId: 'n1', keyId: 'k2' }))).toEqual({ event: { kind: 'secret-keys-loaded', nodeId: 'n1', keyId: 'k2' } });
  });

  it('names what is wrong with a notification that is not an event', () => {
    expect(parseClusterEvent('{not json')).toEqual({ problem: 'not JSON' });
    expect(parseClusterEvent(undefined)).toEqual({ problem: 'not JSON' });
    expect(parseClusterEvent(JSON.stringify({ kind: 'agent-changed' }))).toMatchObject({ problem: expect.stringContaining('agentId') });
    expect(parseClusterEvent(JSON.stringify({ kind: 'jobs-ready', agentIds: 'a' }))).toMatchObject({ problem: expect.stringContaining('agentIds') });
    expect(parseClusterEvent(JSON.stringify({ kind: 'secret-keys-loaded', nodeId: 'n1' }))).toMatchObject({ problem: expect.stringContaining('keyId') });
    expect(parseClusterEvent(JSON.stringify({ kind: 'reboot' }))).toHaveProperty('problem');
  });
});
