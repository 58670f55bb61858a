import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthCheckResultSchema, JobFinishSchema, type LocalPolicy } from '../../../src/protocol/messages';
import type { TransportMode } from '../config';
import { AgentConnection, type RunOutcome } from '../connection';
import { HttpClient } from '../http-client';
import { buildHello } from '../host-facts';
import { LineLogger } from '../log';
import { DEFAULT_POLICY } from '../policy';
import { StateStore } from '../state-store';
import { FAST_TIMINGS, FakeControlPlane, waitFor } from '../testing/fake-control-plane';
import { AGENT_VERSION } from '../version';
import { JobManager, type JobManagerTimings } from './job-manager';

const JOB_TIMINGS: Partial<JobManagerTimings> = {
  tickMs: 20,
  runner: { timeoutGraceMs: 300, drainMs: 500 },
  shutdownGraceMs: 300,
  shutdownKillGraceMs: 300,
  shutdownReportMs: 2_000,
  killGraceMs: 300,
};

/** Gone, or a zombie nobody has reaped yet (the process no longer runs either way). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe.each(['ws', 'poll'] as const)('jobs over %s, against a fake control plane', (transport: TransportMode) => {
  let cp: FakeControlPlane;
  let dir: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    cp = await FakeControlPlane.start();
    cp.status = 'approved';
    cp.holdMs = 500;
    dir = mkdtempSync(join(tmpdir(), 'corral-jobs-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startAgent(options: { policy?: () => LocalPolicy; maxJobs?: number; jobTimings?: Partial<JobManagerTimings> } = {}) {
    const lines: string[] = [];
    const logger = new LineLogger({ write: (s: string) => lines.push(s) }, 'debug');
    const policy = options.policy ?? (() => DEFAULT_POLICY);
    const maxJobs = options.maxJobs ?? 1;
    const jobs = new JobManager({ stateDir: dir, agentId: cp.agentId, agentName: cp.agentName, maxJobs, policy, logger, timings: { ...JOB_TIMINGS, ...options.jobTimings } });
    jobs.init();
    const controller = new AbortController();
    const connection = new AgentConnection({
      identity: cp.identity(),
      servers: [cp.url],
      transport,
      client: new HttpClient({ env: {} }),
      signer: cp.signer(),
      hello: buildHello(policy(), maxJobs),
      logger,
      jobs,
      store: new StateStore(dir),
      timings: FAST_TIMINGS,
    });
    let outcome: RunOutcome | null = null;
    const done = connection.run(controller.signal).then((o) => (outcome = o));
    cleanups.push(async () => {
      controller.abort();
      for (const pid of jobs.runningPids()) process.kill(-pid, 'SIGKILL');
      await done;
      jobs.close();
    });
    await waitFor(() => connection.status === 'approved', 'approval');
    const log = () => lines.join('');
    return { jobs, connection, controller, done, log, outcome: () => outcome };
  }

  const finishOf = (jobId: string) => cp.sent('agent.job.finish', jobId)[0];

  it('runs an offer to the end: accept, start, stdout and stderr, exit 3, acknowledged finish', async () => {
    const agent = await startAgent({ maxJobs: 2 });
    const body = [
      'echo "to stdout"',
      'echo "to stderr" >&2',
      'echo "job=$CORRAL_JOB_ID attempt=$CORRAL_ATTEMPT task=$CORRAL_TASK_NAME agent=$CORRAL_AGENT_NAME"',
      'echo "pwd=$(pwd) workdir=$CORRAL_WORKDIR"',
      'exit 3',
    ].join('\n');
    const offer = cp.sendOffer({ name: 'deploy web', script: { syntax: 'bash', body } });

    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the acknowledged finish');
    expect(cp.hellos.concat(cp.polls)[0]).toMatchObject({ maxJobs: 2 });
    expect(cp.sent('agent.job.accept', offer.jobId)).toEqual([{ type: 'agent.job.accept', v: 1, jobId: offer.jobId, attempt: 1 }]);
    const chunks = cp.sent('agent.job.log', offer.jobId);
    expect(finishOf(offer.jobId)).toEqual({
      type: 'agent.job.finish',
      v: 1,
      jobId: offer.jobId,
      attempt: 1,
      outcome: 'failed',
      exitCode: 3,
      signal: null,
      message: 'exit code 3',
      logChunks: cp.nextSeq(offer.jobId),
      result: null,
    });
    expect(cp.nextSeq(offer.jobId)).toBeGreaterThan(0);
    expect(new Set(chunks.map((c) => c.seq))).toEqual(new Set([...Array(cp.nextSeq(offer.jobId)).keys()]));

    const workDir = join(dir, 'work', `${offer.jobId}-1`);
    expect(cp.logText(offer.jobId, 'stdout')).toBe(`to stdout\njob=${offer.jobId} attempt=1 task=deploy web agent=${cp.agentName}\npwd=${workDir} workdir=${workDir}\n`);
    expect(cp.logText(offer.jobId, 'stderr')).toBe('to stderr\n');
    expect(cp.logText(offer.jobId, 'system')).toMatch(new RegExp(`^running bash as \\S+ in ${workDir} \\(pid \\d+, timeout 60 s\\)\\nexit code 3 after [\\d.]+ s\\n$`));
    expect(existsSync(workDir)).toBe(false); // removed once the finish was acknowledged
    expect(cp.invalidMessages).toEqual([]);
  });

  it('masks sensitive values, even split across writes, before they are stored or sent', async () => {
    const agent = await startAgent();
    const body = `printf 'password=s3cr'; sleep 0.2; printf 'et-value and again s3cret-value\\n'; echo 's3cret-value' >&2`;
    const offer = cp.sendOffer({ script: { syntax: 'bash', body }, sensitiveValues: ['s3cret-value'] });
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the finish');
    expect(cp.logText(offer.jobId, 'stdout')).toBe('password=*** and again ***\n');
    expect(cp.logText(offer.jobId, 'stderr')).toBe('***\n');
    expect(JSON.stringify(cp.jobMessages)).not.toContain('s3cret');
  });

  it('never starts a replayed offer a second time', async () => {
    cp.ackFinish = false;
    const agent = await startAgent();
    const marker = join(dir, 'runs.txt');
    const { payload, envelope } = cp.offer({ script: { syntax: 'bash', body: `echo run >> ${marker}` } });
    cp.deliver(envelope);
    await waitFor(() => cp.sent('agent.job.finish', payload.jobId).length === 1, 'the first finish');

    // Finished, not acknowledged: the replay re-sends the finish, nothing runs.
    cp.deliver(envelope);
    await waitFor(() => cp.sent('agent.job.finish', payload.jobId).length === 2, 'the finish sent again');
    cp.ackFinish = true;
    cp.deliver(envelope);
    await waitFor(() => agent.jobs.ledger.get(payload.jobId)?.state === 'reported', 'the acknowledged finish');

    // Reported: the replay is ignored.
    cp.deliver(envelope);
    await waitFor(() => (agent.log().match(/was offered again/g) ?? []).length === 3, 'the third replay to be seen');
    expect(readFileSync(marker, 'utf8')).toBe('run\n');
    expect(cp.sent('agent.job.accept', payload.jobId)).toHaveLength(1);
    expect(cp.sent('agent.job.finish', payload.jobId).every((f) => f.outcome === 'succeeded')).toBe(true);
  });

  it('cancels a running job: SIGTERM to its process group, outcome cancelled', async () => {
    const agent = await startAgent();
    const pidFile = join(dir, 'sleep.pid');
    const offer = cp.sendOffer({ script: { syntax: 'bash', body: `sleep 300 &\necho $! > ${pidFile}\nwait` } });
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the sleep to start');
    const sleepPid = Number(readFileSync(pidFile, 'utf8'));
    cleanups.push(() => void (processGone(sleepPid) || process.kill(sleepPid, 'SIGKILL')));
    expect(processGone(sleepPid)).toBe(false);

    cp.sendCancel(offer.jobId, { reason: 'stopped by admin@x', graceSeconds: 5 });
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the cancelled finish');
    expect(finishOf(offer.jobId)).toMatchObject({ outcome: 'cancelled', message: 'cancelled: stopped by admin@x' });
    expect(cp.logText(offer.jobId, 'system')).toContain('cancel requested (stopped by admin@x): SIGTERM sent to process group\n');
    await waitFor(() => processGone(sleepPid), 'the sleep in the process group to be gone', 2_000);
  });

  it('times a job out: SIGTERM, then SIGKILL when it ignores it; outcome timed_out', async () => {
    const agent = await startAgent();
    const offer = cp.sendOffer({ timeoutSeconds: 1, script: { syntax: 'bash', body: `trap '' TERM\necho waiting\nsleep 300` } });
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the timed-out finish');
    expect(finishOf(offer.jobId)).toMatchObject({ outcome: 'timed_out', signal: 'SIGKILL', message: 'timed out after 1 s' });
    const system = cp.logText(offer.jobId, 'system');
    expect(system).toContain('timed out after 1 s: SIGTERM sent to process group\n');
    expect(system).toContain('killed after timeout: SIGKILL sent to process group\n');
    expect(cp.logText(offer.jobId, 'stdout')).toBe('waiting\n');
  });

  it('refuses what the local policy forbids, saying which rule and file, and starts nothing', async () => {
    let policy: LocalPolicy = { ...DEFAULT_POLICY, source: '/etc/corral/agent-policy.json', frozen: true };
    const agent = await startAgent({ policy: () => policy });
    const frozen = cp.sendOffer();
    await waitFor(() => cp.sent('agent.job.refuse', frozen.jobId).length === 1, 'the refusal');
    expect(cp.sent('agent.job.refuse', frozen.jobId)[0]).toEqual({
      type: 'agent.job.refuse',
      v: 1,
      jobId: frozen.jobId,
      attempt: 1,
      reason: 'policy',
      message: 'this host is frozen by its local policy, /etc/corral/agent-policy.json ("frozen": true): it runs no work',
    });

    policy = { ...policy, frozen: false, allowedOrganizations: ['0b6f3c1e-7a52-4c8e-9d41-2f0e5b7a9c13'] };
    const elsewhere = cp.sendOffer();
    await waitFor(() => cp.sent('agent.job.refuse', elsewhere.jobId).length === 1, 'the second refusal');
    expect(cp.sent('agent.job.refuse', elsewhere.jobId)[0].message).toBe(`organisation ${cp.organizationId} is not in "allowedOrganizations" of /etc/corral/agent-policy.json`);

    policy = { ...policy, allowedOrganizations: null, runAs: 'no-such-user-here' };
    const runAs = cp.sendOffer();
    await waitFor(() => cp.sent('agent.job.refuse', runAs.jobId).length === 1, 'the third refusal');
    expect(cp.sent('agent.job.refuse', runAs.jobId)[0].message).toContain('"runAs": "no-such-user-here" in /etc/corral/agent-policy.json names a user that does not exist');

    expect(cp.sent('agent.job.accept')).toEqual([]);
    expect(agent.jobs.ledger.all()).toEqual([]);
  });

  it('runs a health check: no user code, a finish with a valid result, its summary in the log', async () => {
    const policy: LocalPolicy = { ...DEFAULT_POLICY, allowScripts: false }; // a health check is no script
    const agent = await startAgent({ policy: () => policy });
    const before = Date.now();
    const offer = cp.sendHealthCheck();
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the acknowledged finish');

    const finish = JobFinishSchema.parse(finishOf(offer.jobId));
    expect(finish).toMatchObject({ v: 1, outcome: 'succeeded', exitCode: null, signal: null, message: null, logChunks: cp.nextSeq(offer.jobId) });
    const result = HealthCheckResultSchema.parse(finish.result);
    expect(result.verdict).toMatch(/^(healthy|warning|unhealthy)$/);
    expect(result.facts).toMatchObject({ hostname: hostname(), agentVersion: AGENT_VERSION, policy, stateDir: { path: dir, writable: true }, interpreters: { node: { path: process.execPath } } });
    expect(result.facts.checkedAt).toBeGreaterThanOrEqual(before);
    expect(cp.logText(offer.jobId, 'system')).toMatch(/^health check: corral-agent .*\nstate directory .*\nverdict: (healthy|warning|unhealthy)/s);
    expect(cp.logText(offer.jobId, 'stdout')).toBe('');
    expect(existsSync(join(dir, 'work', `${offer.jobId}-1`))).toBe(false);
    expect(cp.invalidMessages).toEqual([]);
  });

  it('refuses a health check when the local policy does not allow that kind', async () => {
    const policy: LocalPolicy = { ...DEFAULT_POLICY, source: '/etc/corral/agent-policy.json', allowedJobKinds: ['script'] };
    const agent = await startAgent({ policy: () => policy });
    const offer = cp.sendHealthCheck();
    await waitFor(() => cp.sent('agent.job.refuse', offer.jobId).length === 1, 'the refusal');
    expect(cp.sent('agent.job.refuse', offer.jobId)[0]).toEqual({
      type: 'agent.job.refuse',
      v: 1,
      jobId: offer.jobId,
      attempt: 1,
      reason: 'policy',
      message: 'job kind "health-check" is not allowed by /etc/corral/agent-policy.json ("allowedJobKinds": ["script"])',
    });
    expect(cp.sent('agent.job.accept')).toEqual([]);
    expect(agent.jobs.ledger.all()).toEqual([]);
  });

  it('refuses an offer beyond --max-jobs as busy', async () => {
    cp.autoStart = false;
    const agent = await startAgent({ maxJobs: 1 });
    const first = cp.sendOffer();
    await waitFor(() => cp.sent('agent.job.accept', first.jobId).length === 1, 'the first accept');
    const second = cp.sendOffer();
    await waitFor(() => cp.sent('agent.job.refuse', second.jobId).length === 1, 'the busy refusal');
    expect(cp.sent('agent.job.refuse', second.jobId)[0]).toMatchObject({ reason: 'busy' });
    expect(agent.jobs.load).toBe(1);
  });

  it('sends the accept again after a reconnect, and starts the job when the start comes', async () => {
    cp.autoStart = false;
    const agent = await startAgent();
    const offer = cp.sendOffer({ script: { syntax: 'bash', body: 'echo started' } });
    await waitFor(() => cp.sent('agent.job.accept', offer.jobId).length === 1, 'the accept');
    cp.dropConnections();
    await waitFor(() => cp.sent('agent.job.accept', offer.jobId).length === 2, 'the accept sent again after reconnecting');
    expect(agent.jobs.ledger.get(offer.jobId)?.state).toBe('accepted');

    cp.deliver({ type: 'server.job.start', jobId: offer.jobId, attempt: 1, leaseSeconds: 30 });
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the finish');
    expect(cp.logText(offer.jobId, 'stdout')).toBe('started\n');
  });

  it('sends unacknowledged log chunks again after a reconnect, then the finish', async () => {
    cp.ackLogs = false;
    const agent = await startAgent();
    const offer = cp.sendOffer({ script: { syntax: 'bash', body: 'echo one\necho two >&2' } });
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'finished' && cp.nextSeq(offer.jobId) === agent.jobs.ledger.get(offer.jobId)?.finish?.logChunks, 'every chunk once');
    const firstRound = cp.sent('agent.job.log', offer.jobId).length;
    expect(finishOf(offer.jobId)).toBeUndefined(); // no finish while chunks are unacknowledged

    cp.ackLogs = true;
    cp.dropConnections();
    await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the finish after the chunks were acknowledged');
    const seqZero = cp.sent('agent.job.log', offer.jobId).filter((c) => c.seq === 0);
    expect(seqZero.length).toBeGreaterThanOrEqual(2);
    expect(cp.sent('agent.job.log', offer.jobId).length).toBeGreaterThan(firstRound);
    expect(cp.logText(offer.jobId, 'stdout')).toBe('one\n');
    expect(cp.logText(offer.jobId, 'stderr')).toBe('two\n');
    expect(finishOf(offer.jobId)).toMatchObject({ outcome: 'succeeded', logChunks: cp.nextSeq(offer.jobId) });
  });

  it('on stop: refuses new offers, cancels a job that outlives the grace period, reports it, then exits 0', async () => {
    const agent = await startAgent();
    const offer = cp.sendOffer({ script: { syntax: 'bash', body: `trap 'echo got TERM; exit 143' TERM\necho up\nsleep 300 & wait` } });
    await waitFor(() => cp.logText(offer.jobId, 'stdout') === 'up\n', 'the job to run');
    agent.controller.abort();
    const late = cp.sendOffer();
    await agent.done;
    expect(agent.outcome()).toEqual({ exitCode: 0, message: null });
    expect(finishOf(offer.jobId)).toMatchObject({ outcome: 'cancelled', message: 'agent stopping' });
    expect(cp.logText(offer.jobId, 'system')).toContain('agent stopping: SIGTERM sent to process group');
    expect(agent.jobs.ledger.get(offer.jobId)?.state).toBe('reported');
    expect(cp.sent('agent.job.accept', late.jobId)).toEqual([]);
  });

  it('stops running jobs when the agent is revoked, then exits 3', async () => {
    const agent = await startAgent();
    const offer = cp.sendOffer({ script: { syntax: 'bash', body: 'echo up; sleep 300' } });
    await waitFor(() => cp.logText(offer.jobId, 'stdout') === 'up\n', 'the job to run');
    const [pid] = agent.jobs.runningPids();
    cp.setStatus('revoked', 'revoked by admin@x');
    await agent.done;
    expect(agent.outcome()?.exitCode).toBe(3);
    expect(agent.jobs.ledger.get(offer.jobId)?.finish).toMatchObject({ outcome: 'cancelled', message: 'agent stopping: AGENT_REVOKED' });
    await waitFor(() => processGone(pid), 'the job process to be gone', 2_000);
  });

  if (transport === 'poll')
    it('retries a POST /messages that fails, and handles the replies in its answer', async () => {
      cp.messagesAnswers.push({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'try again' } } });
      const agent = await startAgent();
      const offer = cp.sendOffer({ script: { syntax: 'bash', body: 'echo through' } });
      await waitFor(() => agent.jobs.ledger.get(offer.jobId)?.state === 'reported', 'the finish');
      expect(cp.logText(offer.jobId, 'stdout')).toBe('through\n');
      expect(cp.messagePosts).toBeGreaterThanOrEqual(2);
    });

  it('ignores offers while the agent is not approved, and offers it cannot verify', async () => {
    const agent = await startAgent();
    const forged = cp.offer();
    cp.deliver({ ...forged.envelope, signature: cp.statusEnvelope('approved', { forged: true }).signature });
    await waitFor(() => agent.log().includes('signature does not verify'), 'the forged offer to be ignored');
    cp.setStatus('pending');
    await waitFor(() => agent.connection.status === 'pending', 'pending');
    const offer = cp.sendOffer();
    await waitFor(() => agent.log().includes(`ignored an offer of job ${offer.jobId}`), 'the offer to be ignored');
    expect(cp.sent('agent.job.accept')).toEqual([]);
  });
});
