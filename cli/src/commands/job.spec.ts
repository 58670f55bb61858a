import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOutputs, writeHelper } from '../../../agent/src/jobs/job-helper';
import { main } from '../main';

// The CLI's `get` and `set-output` against the very files the agent's in-job helper uses: a
// script gets the same answers whichever `corral` it finds on its PATH.
describe('corral get and set-output inside a step', () => {
  let workDir: string;
  let env: NodeJS.ProcessEnv;
  let printed: string;
  let said: string;
  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'corral-cli-helper-'));
    env = { ...process.env, ...writeHelper(workDir, { DbHost: 'db.internal', Multi: 'a\nb "c" $d' }, null, process.env.PATH) };
    printed = said = '';
    jest.spyOn(process.stdout, 'write').mockImplementation((s) => ((printed += String(s)), true));
    jest.spyOn(process.stderr, 'write').mockImplementation((s) => ((said += String(s)), true));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('reads what the agent wrote, case ignored', async () => {
    expect(await main(['get', 'dbhost'], env)).toBe(0);
    expect(await main(['get', 'Multi'], env)).toBe(0);
    expect(printed).toBe('db.internal' + 'a\nb "c" $d');
    expect(await main(['get', 'Nope'], env)).toBe(1);
    expect(said).toBe('corral: this step has no variable "Nope"\n');
  });

  it('sets outputs the agent reads back, and the shell helper agrees on the files', async () => {
    expect(await main(['set-output', 'Url', 'http://web-1'], env)).toBe(0);
    expect(await main(['set-output', 'ApiKey', 's3cret', '--sensitive'], env)).toBe(0);
    expect(spawnSync('sh', ['-c', 'corral set-output url http://web-1:8080'], { env }).status).toBe(0);
    expect(readOutputs(workDir, () => undefined).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'ApiKey', value: 's3cret', sensitive: true },
      { name: 'url', value: 'http://web-1:8080', sensitive: false },
    ]);
    expect(await main(['set-output', 'no spaces', 'x'], env)).toBe(2);
    expect(said).toContain('an output name is letters, digits, ".", "_" or "-", not "no spaces"');
  });

  it('says where it works when run outside a step', async () => {
    expect(await main(['get', 'DbHost'], { PATH: process.env.PATH })).toBe(2);
    expect(said).toContain('work inside a Corral deployment step');
  });
});
