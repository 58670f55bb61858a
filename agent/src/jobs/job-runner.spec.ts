import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScriptSyntax } from '../../../src/protocol/messages';
import { lookupUser } from '../policy';
import { defaultInterpreters, JobRunner, type JobSpec, type RunAsUser } from './job-runner';

describe('the job runner', () => {
  let dir: string;
  const runners: JobRunner[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-runner-'));
  });
  afterEach(() => {
    for (const r of runners.splice(0)) {
      if (r.pid) {
        try {
          process.kill(-r.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      r.dispose();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function run(syntax: ScriptSyntax, body: string, options: { runAs?: RunAsUser; interpreters?: ReturnType<typeof defaultInterpreters>; drainMs?: number } = {}) {
    const out = { stdout: '', stderr: '', system: [] as string[] };
    const spec: JobSpec = {
      jobId: randomUUID(),
      attempt: 1,
      syntax,
      body,
      timeoutSeconds: 30,
      workDir: join(dir, 'work', 'job-1'),
      runAs: options.runAs ?? null,
      env: { ...process.env, CORRAL_JOB_ID: 'the-job' },
    };
    const runner = new JobRunner(
      spec,
      { output: (stream, data) => (out[stream] += data.toString()), system: (line) => out.system.push(line) },
      { timings: { drainMs: options.drainMs ?? 500, timeoutGraceMs: 300 }, interpreters: options.interpreters },
    );
    runners.push(runner);
    runner.start();
    return { runner, out, spec };
  }

  it("runs node scripts with the agent's own Node.js, with the job environment", async () => {
    const { runner, out } = run('node', 'console.log(process.env.CORRAL_JOB_ID, require("path").basename(process.cwd()))');
    await expect(runner.done).resolves.toEqual({ outcome: 'succeeded', exitCode: 0, signal: null, message: null });
    expect(out.stdout).toBe('the-job job-1\n');
    expect(out.system[0]).toMatch(/^running node as \S+ in .*job-1 \(pid \d+, timeout 30 s\)$/);
  });

  it('runs sh scripts and reports a non-zero exit and a death by signal as failures', async () => {
    await expect(run('sh', 'exit 7').runner.done).resolves.toEqual({ outcome: 'failed', exitCode: 7, signal: null, message: 'exit code 7' });
    const killed = run('sh', 'kill -9 $$');
    await expect(killed.runner.done).resolves.toEqual({ outcome: 'failed', exitCode: null, signal: 'SIGKILL', message: 'killed by SIGKILL' });
    expect(killed.out.system.at(-1)).toMatch(/^killed by SIGKILL after/);
  });

  it('fails with a clear line when the interpreter is not installed', async () => {
    const interpreters = defaultInterpreters();
    interpreters.pwsh = { ...interpreters.pwsh, command: 'corral-no-such-pwsh' };
    const { runner, out } = run('pwsh', 'Write-Output hi', { interpreters });
    await expect(runner.done).resolves.toEqual({ outcome: 'failed', exitCode: null, signal: null, message: 'PowerShell (pwsh) is not installed on this host' });
    expect(out.system[0]).toContain('cannot run the pwsh script: "corral-no-such-pwsh" was not found on this host');
    expect(out.system[0]).toContain('install PowerShell (pwsh) or choose another syntax');
    expect(runner.running).toBe(false);
  });

  it('does not wait for background processes that keep its output open', async () => {
    const { runner, out } = run('bash', 'sleep 300 &\necho done');
    const result = await runner.done;
    expect(result.outcome).toBe('succeeded');
    expect(out.stdout).toBe('done\n');
    expect(out.system).toContain('the script exited but processes it left behind still hold its output; their further output is not captured');
  });

  const nobody = lookupUser('nobody');
  const asRoot = process.getuid?.() === 0 && nobody !== null;
  (asRoot ? it : it.skip)("runs as the policy's user when the agent is root, in a directory that user owns", async () => {
    chmodSync(dir, 0o711); // the job user must be able to reach its working directory
    const { runner, out, spec } = run('bash', 'id -un; echo "$HOME $USER"; touch mine', { runAs: nobody as RunAsUser });
    await expect(runner.done).resolves.toMatchObject({ outcome: 'succeeded' });
    expect(out.stdout).toBe(`nobody\n${nobody?.home} nobody\n`);
    expect(out.system[0]).toContain('running bash as nobody in');
    expect(statSync(join(spec.workDir, 'mine')).uid).toBe(nobody?.uid);
  });
});
