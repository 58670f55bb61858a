import { AgentHelloSchema, AgentJobMessageSchema } from './messages';

describe('agent messages', () => {
  const hello = { type: 'agent.hello', v: 1, hostname: 'web-1', os: 'linux', arch: 'x64', agentVersion: '0.1.0', policy: null };
  const ref = { jobId: '00000000-0000-4000-8000-000000000001', attempt: 1 };

  it('refuses a NUL in text the control plane stores, naming the field', () => {
    expect(AgentHelloSchema.safeParse(hello).success).toBe(true);
    const bad = AgentHelloSchema.safeParse({ ...hello, hostname: 'web\u00001' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]).toMatchObject({ path: ['hostname'], message: 'must not contain NUL characters (\\u0000)' });
    const finish = { type: 'agent.job.finish', ...ref, outcome: 'failed', exitCode: 1, signal: null, logChunks: 0 };
    expect(AgentJobMessageSchema.safeParse({ ...finish, message: 'spawn\u0000failed' }).success).toBe(false);
    expect(AgentJobMessageSchema.safeParse({ ...finish, message: null }).success).toBe(true);
  });

  it('lets log output carry any character', () => {
    expect(AgentJobMessageSchema.safeParse({ type: 'agent.job.log', ...ref, seq: 0, stream: 'stdout', text: 'a\u0000b' }).success).toBe(true);
  });

  it('refuses a log sequence whose successor would not fit the column that stores it', () => {
    const log = { type: 'agent.job.log', ...ref, stream: 'stdout', text: 'x' };
    expect(AgentJobMessageSchema.safeParse({ ...log, seq: 2 ** 31 - 2 }).success).toBe(true);
    const bad = AgentJobMessageSchema.safeParse({ ...log, seq: 2 ** 31 - 1 });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['seq'], message: `must be below ${2 ** 31 - 1}` });
  });
});
