import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthCheckResultSchema, type LocalPolicy } from '../../../src/protocol/messages';
import { DEFAULT_POLICY } from '../policy';
import { HOST_PROBES, HealthCheck, describeHealth, findOnPath, formatBytes, gatherHealth, judgeHealth, type HealthFindings, type HealthProbes } from './health-check';

const GiB = 1024 ** 3;

function findings(overrides: { free?: number; total?: number; writable?: boolean; bash?: boolean; sh?: boolean; policy?: Partial<LocalPolicy> } = {}): HealthFindings {
  const found = (path: string) => ({ path, version: 'x 1.0' });
  return {
    facts: {
      agentVersion: '0.1.0',
      hostname: 'web-01',
      os: 'Linux 6.1.0',
      arch: 'x64',
      uptimeSeconds: 90_000,
      checkedAt: Date.parse('2026-12-04T12:00:00Z'),
      stateDir: { path: '/var/lib/corral-agent', freeBytes: overrides.free ?? 12 * GiB, totalBytes: overrides.total ?? 17 * GiB, writable: overrides.writable ?? true },
      interpreters: { bash: overrides.bash === false ? null : found('/usr/bin/bash'), sh: overrides.sh === false ? null : found('/usr/bin/sh'), node: found(process.execPath), pwsh: null },
      policy: { ...DEFAULT_POLICY, source: '/etc/corral/agent-policy.json', ...overrides.policy },
    },
    writeError: overrides.writable === false ? 'EROFS' : null,
    diskError: null,
    path: '/usr/local/bin:/usr/bin',
  };
}

describe('judging a health check', () => {
  it('is healthy with room on the disk, a writable state dir, bash and sh, and no freeze (pwsh is optional)', () => {
    expect(judgeHealth(findings())).toEqual({ verdict: 'healthy', problems: [] });
  });

  it('warns below 10 % free, saying how much of which disk, in words a sysadmin can act on', () => {
    expect(judgeHealth(findings({ free: 1.2 * GiB, total: 17 * GiB }))).toEqual({
      verdict: 'warning',
      problems: ['only 7 % of the disk holding /var/lib/corral-agent is free (1.2 GiB of 17 GiB)'],
    });
  });

  it('is unhealthy below 2 % free, or when the state dir cannot be written, worst first', () => {
    const judged = judgeHealth(findings({ free: 0.3 * GiB, total: 17 * GiB, writable: false, sh: false }));
    expect(judged.verdict).toBe('unhealthy');
    expect(judged.problems).toEqual([
      expect.stringMatching(/^the agent cannot write to its state directory \/var\/lib\/corral-agent \(EROFS\), so it cannot record jobs/),
      expect.stringMatching(/^only 1 % of the disk holding \/var\/lib\/corral-agent is free \(307 MiB of 17 GiB\): .*free some space$/),
      expect.stringMatching(/^sh was not found on the PATH jobs get \(\/usr\/local\/bin:\/usr\/bin\)/),
    ]);
  });

  it('warns when bash or sh is missing, or the host is frozen', () => {
    expect(judgeHealth(findings({ bash: false })).problems).toEqual([expect.stringContaining('bash was not found on the PATH jobs get')]);
    expect(judgeHealth(findings({ policy: { frozen: true } }))).toEqual({
      verdict: 'warning',
      problems: ['this host is frozen by its local policy, /etc/corral/agent-policy.json ("frozen": true): it runs no other work until that is set to false'],
    });
  });

  it('warns when the free space cannot be read, rather than guessing', () => {
    const unknown = { ...findings({ free: 0, total: 0 }), diskError: 'ENOSYS' };
    expect(judgeHealth(unknown)).toEqual({ verdict: 'warning', problems: ['cannot tell how much of the disk holding /var/lib/corral-agent is free (ENOSYS)'] });
  });

  it('rounds percentages down, so a disk shown as 2 % free is never below the line', () => {
    expect(judgeHealth(findings({ free: 0.0199 * 17 * GiB, total: 17 * GiB })).problems[0]).toMatch(/^only 1 % of the disk/);
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536 * 1024)).toBe('1.5 MiB');
  });

  it('summarises facts and verdict in a few log lines', () => {
    const f = findings({ free: 1.2 * GiB });
    const lines = describeHealth(HealthCheckResultSchema.parse({ kind: 'health-check', ...judgeHealth(f), facts: f.facts }));
    expect(lines).toEqual([
      'health check: corral-agent 0.1.0 on web-01 (Linux 6.1.0, x64), host up 1 d 1 h, agent clock 2026-12-04T12:00:00.000Z',
      'state directory /var/lib/corral-agent: writable; 1.2 GiB free of 17 GiB (7 %)',
      `interpreters: bash /usr/bin/bash (x 1.0); sh /usr/bin/sh (x 1.0); node ${process.execPath} (x 1.0); pwsh not found`,
      expect.stringMatching(/^local policy: \/etc\/corral\/agent-policy.json: job kinds/),
      'verdict: warning (1 problem)',
      'problem: only 7 % of the disk holding /var/lib/corral-agent is free (1.2 GiB of 17 GiB)',
    ]);
  });
});

describe('gathering health facts on this host', () => {
  let dir: string;
  let bin: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-health-'));
    bin = join(dir, 'bin');
    mkdirSync(bin);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const tool = (name: string, script: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${script}\n`);
    chmodSync(join(bin, name), 0o755);
  };

  it('finds interpreters on the job PATH only, with their versions; node is the agent own; a hung --version is given up on', async () => {
    tool('bash', 'echo "GNU bash, version 9.9.9(1)-release"');
    tool('pwsh', 'exec sleep 30'); // hangs: its version is not waited for past the probe timeout
    writeFileSync(join(bin, 'sh'), 'not executable');
    const started = Date.now();
    const found = await gatherHealth({ stateDir: dir, env: { PATH: `relative/bin:${bin}` }, policy: DEFAULT_POLICY, now: () => 42, versionTimeoutMs: 300 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(found.facts.interpreters).toEqual({
      bash: { path: join(bin, 'bash'), version: 'GNU bash, version 9.9.9(1)-release' },
      sh: null,
      node: { path: process.execPath, version: process.version },
      pwsh: { path: join(bin, 'pwsh'), version: null },
    });
    expect(found.facts).toMatchObject({ checkedAt: 42, policy: DEFAULT_POLICY, stateDir: { path: dir, writable: true } });
    expect(found.facts.stateDir.totalBytes).toBeGreaterThan(found.facts.stateDir.freeBytes);
    expect(readdirSync(dir)).toEqual(['bin']); // the write probe left nothing behind
    expect(HealthCheckResultSchema.safeParse({ kind: 'health-check', ...judgeHealth(found), facts: found.facts }).success).toBe(true);
  });

  it('reports a state dir it cannot write to, with the reason', async () => {
    const found = await gatherHealth({
      stateDir: join(dir, 'missing'),
      env: { PATH: '' },
      policy: DEFAULT_POLICY,
      now: Date.now,
      probes: { ...HOST_PROBES, disk: HOST_PROBES.disk.bind(null, dir) },
    });
    expect(found.facts.stateDir.writable).toBe(false);
    expect(found.writeError).toBe('ENOENT');
    expect(judgeHealth(found).verdict).toBe('unhealthy');
  });

  it('takes interpreters from absolute PATH entries only', () => {
    tool('bash', 'true');
    expect(findOnPath('bash', `:.:${bin}`)).toBe(join(bin, 'bash'));
    expect(findOnPath('bash', '')).toBeNull();
  });
});

describe('a health check job', () => {
  const lines: string[] = [];
  const probes = (over: Partial<HealthProbes> = {}): HealthProbes => ({
    disk: async () => ({ freeBytes: 50 * GiB, totalBytes: 100 * GiB }),
    write: async () => undefined,
    version: async () => 'v1',
    uptimeSeconds: () => 60,
    ...over,
  });
  const check = (over: Partial<HealthProbes> = {}, timeoutSeconds = 60) =>
    new HealthCheck({
      stateDir: '/srv/corral',
      env: { PATH: '/usr/bin:/bin' },
      policy: DEFAULT_POLICY,
      now: () => 1_000,
      probes: probes(over),
      timeoutSeconds,
      sink: { system: (l) => lines.push(l) },
    });
  beforeEach(() => lines.splice(0));

  it('succeeds with its result, and writes the summary to the job log', async () => {
    const hc = check();
    hc.start();
    expect(hc.running).toBe(true);
    const ended = await hc.done;
    expect(ended).toMatchObject({ outcome: 'succeeded', exitCode: null, signal: null, message: null });
    expect(HealthCheckResultSchema.parse(ended.result)).toMatchObject({
      kind: 'health-check',
      payloadVersion: 1,
      facts: { checkedAt: 1_000, uptimeSeconds: 60, stateDir: { path: '/srv/corral', writable: true } },
    });
    expect(lines[0]).toMatch(/^health check: corral-agent /);
    expect(lines).toContain(
      `verdict: ${ended.result?.verdict}${ended.result?.problems.length ? ` (${ended.result.problems.length} problem${ended.result.problems.length === 1 ? '' : 's'})` : ''}`,
    );
    expect(hc.running).toBe(false);
  });

  it('fails with a message when the check itself crashes', async () => {
    const hc = check({ version: () => Promise.reject(new Error('probe exploded')) });
    hc.start();
    await expect(hc.done).resolves.toEqual({ outcome: 'failed', exitCode: null, signal: null, message: 'the health check failed: probe exploded', result: null });
    expect(lines).toEqual(['the health check failed: probe exploded']);
  });

  it('ends at the offer timeout even when a probe never answers', async () => {
    const hc = check({ disk: () => new Promise(() => undefined) }, 1);
    hc.start();
    await expect(hc.done).resolves.toEqual({ outcome: 'timed_out', exitCode: null, signal: null, message: 'timed out after 1 s', result: null });
    expect(lines).toEqual(['health check stopped: timed out after 1 s']);
  });

  it('stops on a cancel, and aborts the probes it started', async () => {
    let aborted = false;
    let probing!: () => void;
    const probed = new Promise<void>((resolve) => (probing = resolve));
    const hc = check({
      version: (_p, _t, signal) =>
        new Promise((resolve) => {
          probing();
          signal.addEventListener('abort', () => ((aborted = true), resolve(null)));
        }),
    });
    hc.start();
    await probed;
    hc.stop('cancelled', 5_000, 'cancel requested: SIGTERM sent to process group', 'cancelled: not needed');
    await expect(hc.done).resolves.toMatchObject({ outcome: 'cancelled', message: 'cancelled: not needed', result: null });
    expect(aborted).toBe(true);
    expect(lines).toEqual(['health check stopped: cancelled: not needed']);
  });
});
