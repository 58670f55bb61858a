import { chmodSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalPolicy } from '../../src/protocol/messages';
import { policyRefusal } from '../../src/protocol/policy-check';
import { LineLogger } from './log';
import { DEFAULT_POLICY, describePolicy, loadPolicy, policyPaths, readPolicyNow } from './policy';
import { PolicyWatcher, type PolicyWatcherOptions, type WatchDirectory } from './policy-watcher';
import { waitFor } from './testing/fake-control-plane';

const JOB = { kind: 'script', organizationId: '7d1f3c1e-8a4b-4c2d-9e5f-0a1b2c3d4e5f' };

describe('the local policy watcher', () => {
  let dir: string;
  let system: string;
  const watchers: PolicyWatcher[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-policy-watch-'));
    // A system path in a directory that does not exist, as /etc/corral often does not.
    system = join(dir, 'no-such-dir', 'agent-policy.json');
  });
  afterEach(() => {
    for (const w of watchers.splice(0)) w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function watcher(options: Partial<PolicyWatcherOptions> = {}) {
    const changes: { policy: LocalPolicy; previous: LocalPolicy }[] = [];
    const lines: string[] = [];
    const w = new PolicyWatcher(loadPolicy(dir, system), {
      paths: policyPaths(dir, system),
      read: () => readPolicyNow(dir, system),
      changed: (policy, previous) => changes.push({ policy, previous }),
      logger: new LineLogger({ write: (s: string) => lines.push(s) }, 'debug'),
      intervalMs: 60_000, // tests that rely on the periodic re-read say so
      settleMs: 10,
      ...options,
    });
    watchers.push(w);
    w.start();
    return { w, changes, log: () => lines.join('') };
  }

  const write = (text: string, path = join(dir, 'policy.json')) => writeFileSync(path, text, { mode: 0o600 });

  it('reports a change once, with the policy it replaced, and nothing while the file stays the same', () => {
    const { w, changes } = watcher({ watch: () => ({ close() {} }) });
    expect(w.check()).toEqual(DEFAULT_POLICY);
    expect(changes).toEqual([]);

    write('{"allowScripts": false}');
    expect(w.check()).toMatchObject({ source: join(dir, 'policy.json'), allowScripts: false });
    expect(w.check()).toMatchObject({ allowScripts: false });
    expect(changes).toHaveLength(1);
    expect(changes[0].previous).toEqual(DEFAULT_POLICY);
    expect(changes[0].policy).toBe(w.policy);

    // Rewritten with the same meaning: no change to report.
    write('{ "allowScripts" : false }\n');
    w.check();
    expect(changes).toHaveLength(1);
  });

  it('notices an edit through fs.watch, well before the periodic re-read', async () => {
    const { changes } = watcher();
    write('{"frozen": true}');
    await waitFor(() => changes.length === 1, 'the change to be noticed', 2_000);
    expect(changes[0].policy).toMatchObject({ frozen: true });
  });

  it('notices a file replaced the way editors save (write a copy, rename it over), and a file removed', async () => {
    write('{"frozen": true}');
    const { changes } = watcher();
    const copy = join(dir, '.policy.json.swp');
    write('{"allowedJobKinds": ["health-check"]}', copy);
    renameSync(copy, join(dir, 'policy.json'));
    await waitFor(() => changes.length === 1, 'the replacement to be noticed', 2_000);
    expect(changes[0].policy).toMatchObject({ frozen: false, allowedJobKinds: ['health-check'] });

    unlinkSync(join(dir, 'policy.json'));
    await waitFor(() => changes.length === 2, 'the removal to be noticed', 2_000);
    expect(changes[1].policy).toEqual(DEFAULT_POLICY);
  });

  it('finds a change fs.watch missed with the periodic re-read', async () => {
    const { changes } = watcher({ watch: () => ({ close() {} }), intervalMs: 30 });
    write('{"allowScripts": false}');
    await waitFor(() => changes.length === 1, 'the re-read to find the change', 2_000);
  });

  it('ignores other files in the state directory, and reads a burst of events once', () => {
    jest.useFakeTimers();
    try {
      let read = 0;
      const fired: ((name: string | null) => void)[] = [];
      const watch: WatchDirectory = (_dir, listener) => (fired.push(listener), { close() {} });
      watcher({ watch, read: () => (read++, DEFAULT_POLICY) });
      for (const listener of fired) listener('status.json');
      jest.advanceTimersByTime(100);
      expect(read).toBe(0);
      for (const listener of fired) ['policy.json', 'policy.json', null].forEach((name) => listener(name));
      jest.advanceTimersByTime(100);
      expect(read).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('reports a policy that became invalid as one refusing all work, saying why, and never throws', () => {
    const { w, changes } = watcher({ watch: () => ({ close() {} }) });
    write('{"frozn": true}');
    const invalid = w.check();
    expect(changes).toHaveLength(1);
    expect(invalid).toMatchObject({ source: join(dir, 'policy.json'), frozen: true, allowedJobKinds: [], error: expect.stringContaining('unknown key "frozn"') });
    expect(policyRefusal(invalid, JOB)).toMatch(/runs no work until its local policy is fixed: .*unknown key "frozn"/);
    expect(describePolicy(invalid)).toMatch(/^INVALID, so no work will run: /);

    chmodSync(join(dir, 'policy.json'), 0o666);
    write('{"frozen": false}');
    chmodSync(join(dir, 'policy.json'), 0o666);
    expect(w.check().error).toMatch(/writable by group or others/);

    chmodSync(join(dir, 'policy.json'), 0o600);
    expect(w.check()).toMatchObject({ frozen: false, allowedJobKinds: DEFAULT_POLICY.allowedJobKinds });
    expect(w.policy.error).toBeUndefined();
    expect(changes).toHaveLength(3);
  });

  it('keeps the last policy when reading fails outright or reporting throws, and stops when closed', () => {
    let next: () => LocalPolicy = () => {
      throw new Error('EIO');
    };
    const { w, changes, log } = watcher({ watch: () => ({ close() {} }), read: () => next() });
    expect(w.check()).toEqual(DEFAULT_POLICY);
    expect(log()).toContain('cannot re-read the local policy: EIO');

    const frozen = { ...DEFAULT_POLICY, frozen: true };
    next = () => frozen;
    const failing = watcher({
      watch: () => ({ close() {} }),
      read: () => frozen,
      changed: () => {
        throw new Error('socket gone');
      },
    });
    expect(failing.w.check()).toBe(frozen);
    expect(failing.log()).toContain('reporting the local policy change failed: socket gone');

    w.close();
    expect(w.check()).toEqual(DEFAULT_POLICY);
    expect(changes).toEqual([]);
  });
});
