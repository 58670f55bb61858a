import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { ServerMessageSchema, type AgentJobMessage, type JobOfferPayload, type LocalPolicy } from '../../../src/protocol/messages';
import { LineLogger } from '../log';
import { DEFAULT_POLICY } from '../policy';
import { healthCheckOfferPayload, offerPayload, type ScriptOffer, waitFor } from '../testing/fake-control-plane';
import { JobManager } from './job-manager';
import { Ledger } from './ledger';
import { LogSpool } from './log-spool';

const agentId = randomUUID();

/** A control-plane reply about a job, as the connection hands it over: parsed by the protocol's schema. */
function reply(message: z.input<typeof ServerMessageSchema>): Parameters<JobManager['handle']>[0] {
  const parsed = ServerMessageSchema.parse(message);
  if (parsed.type !== 'server.job.start' && parsed.type !== 'server.job.gone' && parsed.type !== 'server.job.logAck' && parsed.type !== 'server.job.finishAck')
    throw new Error(`${parsed.type} is not a reply about a job`);
  return parsed;
}

function offer(overrides: Partial<ScriptOffer> = {}): JobOfferPayload {
  return offerPayload({ agentId, script: { syntax: 'bash', body: 'echo hi' }, ...overrides });
}

function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('the job manager', () => {
  let dir: string;
  const managers: JobManager[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-manager-'));
  });
  afterEach(() => {
    for (const m of managers.splice(0)) {
      for (const pid of m.runningPids()) process.kill(-pid, 'SIGKILL');
      m.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function manager(options: { maxJobs?: number; policy?: () => LocalPolicy } = {}) {
    const lines: string[] = [];
    const sent: AgentJobMessage[] = [];
    const m = new JobManager({
      stateDir: dir,
      agentId,
      agentName: 'web-01',
      maxJobs: options.maxJobs ?? 4,
      policy: options.policy ?? (() => DEFAULT_POLICY),
      logger: new LineLogger({ write: (s: string) => lines.push(s) }, 'debug'),
      timings: { tickMs: 20, killGraceMs: 200, runner: { drainMs: 300 }, shutdownGraceMs: 200, shutdownKillGraceMs: 200, shutdownReportMs: 2_000 },
    });
    managers.push(m);
    m.init();
    // The job manager sends only job messages (policy changes come from the connection).
    m.connected({ send: (messages) => (sent.push(...(messages as AgentJobMessage[])), true) });
    const of = <T extends AgentJobMessage['type']>(type: T, jobId?: string) =>
      sent.filter((s): s is Extract<AgentJobMessage, { type: T }> => s.type === type && (!jobId || ('jobId' in s && s.jobId === jobId)));
    return { m, sent, of, log: () => lines.join('') };
  }

  it('after a restart: re-sends accepts, never re-attaches or re-runs a started job, and re-sends a finished one', async () => {
    const ledger = new Ledger(dir);
    ledger.load();
    const accepted = offer();
    ledger.accept(accepted);
    const running = offer();
    ledger.accept(running);
    ledger.transition(running.jobId, 'running', { started: true, leaseSeconds: 30, pid: 999_999 });
    const finished = offer();
    ledger.accept(finished);
    ledger.transition(finished.jobId, 'running', { started: true, leaseSeconds: 30 });
    const spool = LogSpool.create(ledger.spoolPath(finished.jobId, 1), finished, [], () => undefined);
    spool.output('stdout', 'before the restart\n');
    spool.end();
    spool.close();
    ledger.transition(finished.jobId, 'finished', { finish: { outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 1, result: null } });

    const { m, of, log } = manager();
    expect(of('agent.job.accept')).toEqual([{ type: 'agent.job.accept', v: 1, jobId: accepted.jobId, attempt: 1 }]);
    expect(log()).toContain(
      `job ${running.jobId} attempt 1 ("job") was running when the agent stopped (process group 999999 may still be running); it cannot be re-attached and will not run again`,
    );
    expect(m.ledger.get(running.jobId)?.state).toBe('abandoned');
    m.handle(reply({ type: 'server.job.start', jobId: running.jobId, attempt: 1, leaseSeconds: 30 }));
    m.offer(running);
    expect(m.runningPids()).toEqual([]);
    // An abandoned job is not this agent's to renew; the finished one is, until its finish is sent.
    expect(of('agent.job.heartbeat').flatMap((h) => h.jobs.map((j) => j.jobId))).not.toContain(running.jobId);

    // The finished job's chunks go again from 0, then the finish once they are stored.
    expect(of('agent.job.log', finished.jobId)).toEqual([{ type: 'agent.job.log', v: 1, jobId: finished.jobId, attempt: 1, seq: 0, stream: 'stdout', text: 'before the restart\n' }]);
    expect(of('agent.job.finish', finished.jobId)).toEqual([]);
    m.handle(reply({ type: 'server.job.logAck', jobId: finished.jobId, attempt: 1, nextSeq: 1 }));
    expect(of('agent.job.finish', finished.jobId)).toEqual([
      { type: 'agent.job.finish', v: 1, jobId: finished.jobId, attempt: 1, outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 1, result: null },
    ]);
    m.handle(reply({ type: 'server.job.finishAck', jobId: finished.jobId, attempt: 1 }));
    expect(m.ledger.get(finished.jobId)?.state).toBe('reported');
    expect(existsSync(ledger.spoolPath(finished.jobId, 1))).toBe(false);
  });

  it('runs a health check through the ledger: its result is re-sent after a restart until acknowledged, and a replay runs nothing', async () => {
    const first = manager();
    const o = healthCheckOfferPayload({ agentId });
    first.m.offer(o);
    first.m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => first.m.ledger.get(o.jobId)?.state === 'finished', 'the check to end');
    const chunks = first.of('agent.job.log', o.jobId);
    first.m.handle(reply({ type: 'server.job.logAck', jobId: o.jobId, attempt: 1, nextSeq: chunks.length }));
    const [finish] = first.of('agent.job.finish', o.jobId);
    expect(finish).toMatchObject({ outcome: 'succeeded', logChunks: chunks.length, result: { kind: 'health-check', facts: { stateDir: { path: dir, writable: true } } } });
    first.m.close();

    const again = manager();
    again.m.handle(reply({ type: 'server.job.logAck', jobId: o.jobId, attempt: 1, nextSeq: chunks.length }));
    expect(again.of('agent.job.finish', o.jobId)).toEqual([finish]);
    again.m.offer(o);
    expect(again.of('agent.job.accept', o.jobId)).toEqual([]);
    expect(again.log()).toContain('was offered again; it is finished here and is not started a second time');
  });

  const deploymentStep = (body: string, more: Partial<JobOfferPayload & { kind: 'deployment' }>): JobOfferPayload => ({
    ...offer(),
    kind: 'deployment',
    payloadVersion: 2,
    script: { syntax: 'bash', body },
    deployment: { id: agentId, project: 'Shop', release: '1.0.0', environment: 'Prod', step: 'migrate' },
    variables: [],
    sensitiveVariables: [],
    ...more,
  });

  it('fills a version-2 step script from its values, the sensitive ones from its secrets, masked in its output', async () => {
    const { m, of } = manager();
    const o = deploymentStep('echo "#{dbhost} #{DbPassword} ##{DbHost}"', {
      variables: [{ name: 'DbHost', value: 'db.prod' }],
      sensitiveVariables: [{ name: 'DbPassword', secret: 0 }],
      sensitiveValues: ['pw-9f8e7d'],
    });
    m.offer(o);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => m.ledger.get(o.jobId)?.state === 'finished', 'the job to end');
    const seen = of('agent.job.log', o.jobId)
      .filter((c) => c.stream === 'stdout')
      .map((c) => c.text)
      .join('');
    expect(seen).toBe('db.prod *** #{DbHost}\n');
    expect(m.ledger.get(o.jobId)?.finish?.outcome).toBe('succeeded');
  });

  it('never runs a version-2 script that uses a value it was not sent', async () => {
    const { m } = manager();
    const o = deploymentStep('echo "#{Nope}"', {});
    m.offer(o);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => m.ledger.get(o.jobId)?.state === 'finished', 'the job to end');
    expect(m.ledger.get(o.jobId)?.finish).toMatchObject({ outcome: 'failed', message: expect.stringContaining('#{Nope}') });
  });

  it('runs a deployment step as a script that knows its deployment, project, release, environment and step', async () => {
    const { m, of } = manager();
    const o: JobOfferPayload = {
      ...offer(),
      kind: 'deployment',
      script: { syntax: 'bash', body: 'echo "$CORRAL_PROJECT $CORRAL_RELEASE to $CORRAL_ENVIRONMENT: $CORRAL_STEP ($CORRAL_DEPLOYMENT_ID)"' },
      deployment: { id: agentId, project: 'Shop', release: '1.0.0', environment: 'Prod', step: 'migrate' },
      variables: [],
      sensitiveVariables: [],
    };
    m.offer(o);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => m.ledger.get(o.jobId)?.state === 'finished', 'the job to end');
    const seen = of('agent.job.log', o.jobId)
      .filter((c) => c.stream === 'stdout')
      .map((c) => c.text)
      .join('');
    expect(seen).toBe(`Shop 1.0.0 to Prod: migrate (${agentId})\n`);
    expect(m.ledger.get(o.jobId)?.finish?.outcome).toBe('succeeded');
  });

  it('writes the start to the ledger before the process exists', async () => {
    const { m, of } = manager();
    const o = offer({ script: { syntax: 'bash', body: `cat "${join(dir, 'jobs')}/$CORRAL_JOB_ID/entry.json"` } });
    m.offer(o);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => m.ledger.get(o.jobId)?.state === 'finished', 'the job to end');
    const seen = of('agent.job.log', o.jobId)
      .filter((c) => c.stream === 'stdout')
      .map((c) => c.text)
      .join('');
    expect(JSON.parse(seen)).toMatchObject({ state: 'running', started: true, leaseSeconds: 30 });
  });

  it('cancels an accepted job before it starts: finish cancelled with no chunks, and a later start runs nothing', () => {
    const { m, of } = manager();
    const o = offer();
    m.offer(o);
    m.cancel({ type: 'server.job.cancel', v: 1, agentId, jobId: o.jobId, attempt: 1, reason: 'not needed', graceSeconds: 5, issuedAt: Date.now() });
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    expect(m.runningPids()).toEqual([]);
    expect(of('agent.job.finish', o.jobId)).toEqual([
      { type: 'agent.job.finish', v: 1, jobId: o.jobId, attempt: 1, outcome: 'cancelled', exitCode: null, signal: null, message: 'cancelled: not needed', logChunks: 0, result: null },
    ]);
    expect(m.ledger.get(o.jobId)).toMatchObject({ state: 'finished', started: false });
  });

  it('records a cancel for a job it never had, so the offer that arrives later never runs', () => {
    const { m, of } = manager();
    const o = offer();
    m.cancel({ type: 'server.job.cancel', v: 1, agentId, jobId: o.jobId, attempt: 1, reason: 'cancelled early', graceSeconds: 5, issuedAt: Date.now() });
    expect(of('agent.job.finish', o.jobId)).toHaveLength(1);
    m.offer(o);
    expect(of('agent.job.accept', o.jobId)).toEqual([]);
    expect(of('agent.job.finish', o.jobId)).toHaveLength(2); // the replayed offer gets the unacknowledged finish again
    m.handle(reply({ type: 'server.job.finishAck', jobId: o.jobId, attempt: 1 }));
    expect(m.ledger.get(o.jobId)?.state).toBe('reported');
  });

  it('drops an accepted job the server says is gone, and stops a running one without reporting it', async () => {
    const { m, of } = manager();
    const waiting = offer();
    m.offer(waiting);
    m.handle(reply({ type: 'server.job.gone', jobId: waiting.jobId, attempt: 1, reason: 'expired' }));
    m.handle(reply({ type: 'server.job.start', jobId: waiting.jobId, attempt: 1, leaseSeconds: 30 }));
    expect(m.ledger.get(waiting.jobId)).toMatchObject({ state: 'dropped', started: false });

    const running = offer({ script: { syntax: 'bash', body: 'echo up; sleep 300' } });
    m.offer(running);
    m.handle(reply({ type: 'server.job.start', jobId: running.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => of('agent.job.log', running.jobId).some((c) => c.text.includes('up')), 'the job to run');
    const [pid] = m.runningPids();
    m.handle(reply({ type: 'server.job.gone', jobId: running.jobId, attempt: 1, reason: 'reassigned' }));
    await waitFor(() => m.runningPids().length === 0, 'the process to stop');
    await waitFor(() => groupGone(pid), 'the process group to be gone', 2_000);
    expect(of('agent.job.finish')).toEqual([]);
    expect(m.ledger.get(running.jobId)?.state).toBe('dropped');
    expect(existsSync(join(m.workRoot, `${running.jobId}-1`))).toBe(false);
  });

  it('ignores a second start, and heartbeats every lease/3 while the job runs', async () => {
    const { m, of } = manager();
    const o = offer({ script: { syntax: 'bash', body: 'sleep 300' } });
    m.offer(o);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 1 }));
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 1 }));
    expect(m.runningPids()).toHaveLength(1);
    await waitFor(() => of('agent.job.heartbeat').length >= 3, 'three heartbeats', 3_000);
    expect(of('agent.job.heartbeat')[0]).toEqual({ type: 'agent.job.heartbeat', v: 1, jobs: [{ jobId: o.jobId, attempt: 1 }] });
  });

  it('takes a newer attempt of a job (a retry of an idempotent task), but never a second run of the same attempt', async () => {
    const { m, of } = manager();
    const o = offer();
    m.offer(o);
    m.offer({ ...o, attempt: 2 });
    expect(of('agent.job.accept', o.jobId).map((a) => a.attempt)).toEqual([1, 2]);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 })); // stale: ignored
    expect(m.runningPids()).toEqual([]);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 2, leaseSeconds: 30 }));
    await waitFor(() => m.ledger.get(o.jobId)?.state === 'finished', 'attempt 2 to finish');
    m.offer({ ...o, attempt: 2 });
    expect(of('agent.job.accept', o.jobId).map((a) => a.attempt)).toEqual([1, 2]);
    m.offer({ ...o, attempt: 3 });
    expect(of('agent.job.refuse', o.jobId)).toEqual([]);
    expect(of('agent.job.accept', o.jobId).map((a) => a.attempt)).toEqual([1, 2, 3]);
  });

  it('checks the policy again at start: a host frozen since the offer fails the job without running it', async () => {
    let policy: LocalPolicy = DEFAULT_POLICY;
    const { m, of } = manager({ policy: () => policy });
    const marker = join(dir, 'ran');
    const o = offer({ script: { syntax: 'bash', body: `touch ${marker}` } });
    m.offer(o);
    policy = { ...DEFAULT_POLICY, frozen: true };
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    await waitFor(() => of('agent.job.log', o.jobId).length === 1, 'the system line');
    m.handle(reply({ type: 'server.job.logAck', jobId: o.jobId, attempt: 1, nextSeq: 1 }));
    expect(of('agent.job.finish', o.jobId)[0]).toMatchObject({ outcome: 'failed', logChunks: 1, message: expect.stringContaining('refused by local policy at start: this host is frozen') });
    expect(of('agent.job.log', o.jobId)[0]).toMatchObject({ stream: 'system', text: expect.stringContaining('not started: this host is frozen') });
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses offers once stopping, and cancels running jobs after the grace period', async () => {
    const { m, of } = manager();
    const o = offer({ script: { syntax: 'bash', body: `trap '' TERM; sleep 300` } });
    m.offer(o);
    m.handle(reply({ type: 'server.job.start', jobId: o.jobId, attempt: 1, leaseSeconds: 30 }));
    const drained = m.drain();
    const late = offer();
    m.offer(late);
    expect(of('agent.job.refuse', late.jobId)[0]).toMatchObject({ reason: 'busy', message: 'the agent is stopping' });
    await waitFor(() => m.ledger.get(o.jobId)?.state === 'finished', 'the cancel at the end of the grace period');
    expect(m.ledger.get(o.jobId)?.finish).toMatchObject({ outcome: 'cancelled', message: 'agent stopping', signal: 'SIGKILL' });
    const chunks = of('agent.job.log', o.jobId);
    m.handle(reply({ type: 'server.job.logAck', jobId: o.jobId, attempt: 1, nextSeq: chunks.length }));
    await waitFor(() => of('agent.job.finish', o.jobId).length === 1, 'the finish');
    m.handle(reply({ type: 'server.job.finishAck', jobId: o.jobId, attempt: 1 }));
    await drained;
    expect(readFileSync(join(dir, 'jobs', o.jobId, 'entry.json'), 'utf8')).toContain('"reported"');
  });
});
