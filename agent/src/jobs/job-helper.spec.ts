import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOutputs, writeHelper } from './job-helper';

describe('the corral helper of a job', () => {
  let workDir: string;
  let env: NodeJS.ProcessEnv;
  const run = (script: string, input?: string) => spawnSync('sh', ['-c', script], { env, input, encoding: 'utf8' });
  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'corral-helper-'));
    env = { ...process.env, ...writeHelper(workDir, { DbHost: 'db.internal', 'Corral.Step.Name': 'deploy', Multi: 'a\nb "c" $d' }, null, process.env.PATH) };
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  it('reads values by name, case ignored, exactly as they are', () => {
    expect(run('corral get dbhost').stdout).toBe('db.internal');
    expect(run('corral get Corral.Step.Name').stdout).toBe('deploy');
    expect(run('corral get Multi').stdout).toBe('a\nb "c" $d');
    const missing = run('corral get Nope');
    expect([missing.status, missing.stderr]).toEqual([1, 'corral: this step has no variable "Nope"\n']);
    expect(run('corral').status).toBe(2);
  });

  it('keeps outputs, from an argument or stdin, sensitive when asked; the last set wins', () => {
    expect(run('corral set-output Url http://web-1 && corral set-output ApiKey --sensitive && corral set-output url http://web-1:8080').status).toBe(0);
    expect(run('corral set-output Token --sensitive', 'line 1\nline 2\n').status).toBe(0);
    expect(readOutputs(workDir, () => undefined).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'ApiKey', value: '', sensitive: true },
      { name: 'Token', value: 'line 1\nline 2\n', sensitive: true },
      { name: 'url', value: 'http://web-1:8080', sensitive: false },
    ]);
    const bad = run('corral set-output "no spaces" x');
    expect([bad.status, bad.stderr]).toEqual([2, 'corral: an output name is letters, digits, ".", "_" or "-", not "no spaces"\n']);
  });

  it('does not follow a link the script put where an output goes', () => {
    const secret = join(workDir, 'agent-private-key');
    writeFileSync(secret, 'PRIVATE');
    symlinkSync(secret, join(workDir, '.corral', 'outputs', 'abcd.value'));
    writeFileSync(join(workDir, '.corral', 'outputs', 'abcd.name'), 'Stolen');
    const notes: string[] = [];
    expect(readOutputs(workDir, (line) => notes.push(line))).toEqual([]);
    expect(notes).toEqual(["output file abcd.value not kept: it is not a plain file of the job's, or it is too large"]);
  });
});
