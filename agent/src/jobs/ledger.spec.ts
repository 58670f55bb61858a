import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type JobOfferPayload } from '../../../src/protocol/messages';
import { Ledger, LedgerError } from './ledger';

function offer(overrides: Partial<Extract<JobOfferPayload, { kind: 'script' }>> = {}): JobOfferPayload {
  return {
    type: 'server.job.offer',
    v: PROTOCOL_VERSION,
    agentId: randomUUID(),
    jobId: randomUUID(),
    attempt: 1,
    taskId: randomUUID(),
    organizationId: randomUUID(),
    name: 'deploy',
    kind: 'script',
    payloadVersion: 1,
    script: { syntax: 'bash', body: 'echo $TOKEN' },
    timeoutSeconds: 60,
    sensitiveValues: ['hunter2-value'],
    issuedAt: Date.now(),
    ...overrides,
  };
}

describe('the job ledger', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-ledger-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const restart = () => {
    const ledger = new Ledger(dir);
    ledger.load();
    return ledger;
  };

  it('keeps every state change on disk, so a restarted agent knows what it accepted and started', () => {
    const ledger = restart();
    const a = offer();
    ledger.accept(a);
    expect(restart().get(a.jobId)).toMatchObject({ state: 'accepted', started: false, offer: a });

    ledger.transition(a.jobId, 'running', { started: true, leaseSeconds: 30 });
    expect(restart().get(a.jobId)).toMatchObject({ state: 'running', started: true, leaseSeconds: 30 });
    const file = join(dir, 'jobs', a.jobId, 'entry.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'jobs')).mode & 0o777).toBe(0o700);

    ledger.transition(a.jobId, 'finished', { finish: { outcome: 'failed', exitCode: 3, signal: null, message: 'exit code 3', logChunks: 2, result: null } });
    const finished = restart().get(a.jobId);
    expect(finished).toMatchObject({ state: 'finished', finish: { exitCode: 3, logChunks: 2 } });
    // The script and its secrets are not kept once the job can no longer start.
    expect(finished?.offer).toBeNull();
    expect(readFileSync(file, 'utf8')).not.toContain('hunter2-value');
  });

  it('never has a sensitive value on disk in clear: offers and sensitive outputs are sealed, and open again after a restart', () => {
    const ledger = restart();
    const o = offer({ sensitiveValues: ['hunter2-value', 'x'.repeat(60_000)] });
    ledger.accept(o);
    ledger.transition(o.jobId, 'running', { started: true });
    const onDisk = () => readFileSync(join(dir, 'jobs', o.jobId, 'entry.json'), 'utf8');
    expect(onDisk()).not.toContain('hunter2-value');
    expect(restart().get(o.jobId)?.offer?.sensitiveValues).toEqual(o.sensitiveValues);
    const outputs = [
      { name: 'ApiKey', value: 'ak-secret-output', sensitive: true },
      { name: 'Url', value: 'http://web-1', sensitive: false },
    ];
    ledger.transition(o.jobId, 'finished', { finish: { outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 0, result: null, outputs } });
    expect(onDisk()).not.toContain('ak-secret-output');
    expect(onDisk()).toContain('http://web-1');
    expect(restart().get(o.jobId)?.finish?.outputs).toEqual(outputs);
    expect(statSync(join(dir, 'jobs', 'ledger.key')).mode & 0o777).toBe(0o600);
  });

  it('is not damaged by a write that crashed before its rename', () => {
    const ledger = restart();
    const a = offer();
    ledger.accept(a);
    writeFileSync(join(dir, 'jobs', a.jobId, 'entry.json.tmp'), '{"half": ');
    expect(restart().get(a.jobId)?.state).toBe('accepted');
  });

  it('loads entries written before job payloads had versions and finishes had results', () => {
    // As an agent before protocol payload versions wrote them: no payloadVersion, no result.
    const before = { ...offer(), payloadVersion: undefined };
    const finishedId = randomUUID();
    const write = (jobId: string, entry: object) => {
      mkdirSync(join(dir, 'jobs', jobId), { recursive: true });
      writeFileSync(join(dir, 'jobs', jobId, 'entry.json'), JSON.stringify(entry));
    };
    const common = { version: 1, attempt: 1, taskId: before.taskId, name: 'deploy', leaseSeconds: null, pid: null, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() };
    write(before.jobId, { ...common, jobId: before.jobId, state: 'accepted', started: false, offer: JSON.parse(JSON.stringify(before)), finish: null });
    write(finishedId, { ...common, jobId: finishedId, state: 'finished', started: true, offer: null, finish: { outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 2 } });

    const ledger = restart();
    expect(ledger.damaged.size).toBe(0);
    expect(ledger.get(before.jobId)?.offer).toMatchObject({ kind: 'script', payloadVersion: 1, script: { syntax: 'bash' } });
    expect(ledger.get(finishedId)?.finish).toEqual({ outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 2, result: null });
  });

  it('treats an unreadable entry as a job it knows but must never run', () => {
    const id = randomUUID();
    mkdirSync(join(dir, 'jobs', id), { recursive: true });
    writeFileSync(join(dir, 'jobs', id, 'entry.json'), 'garbage');
    const emptyDir = randomUUID();
    mkdirSync(join(dir, 'jobs', emptyDir), { recursive: true });
    const ledger = restart();
    expect(ledger.get(id)).toBeUndefined();
    expect(ledger.knows(id)).toBe(true);
    expect(ledger.knows(emptyDir)).toBe(true);
    expect(ledger.knows(randomUUID())).toBe(false);
  });

  it('checks every transition against the table, so a started job can never be accepted again', () => {
    const ledger = restart();
    const a = offer();
    ledger.accept(a);
    ledger.transition(a.jobId, 'running', { started: true });
    expect(() => ledger.accept({ ...a, attempt: 2 })).toThrow(LedgerError);
    expect(() => ledger.recordCancelled(a.jobId, 1, 'late')).toThrow(LedgerError);
    ledger.transition(a.jobId, 'finished', { finish: { outcome: 'succeeded', exitCode: 0, signal: null, message: null, logChunks: 0, result: null } });
    ledger.transition(a.jobId, 'reported');
    expect(() => ledger.transition(a.jobId, 'running')).toThrow('cannot go from reported to running');

    // A job that never started may be taken again as a newer attempt, or cancelled.
    const b = offer();
    ledger.accept(b);
    ledger.transition(b.jobId, 'dropped');
    expect(ledger.accept({ ...b, attempt: 2 })).toMatchObject({ state: 'accepted', attempt: 2 });
    expect(ledger.recordCancelled(b.jobId, 2, 'cancelled: no')).toMatchObject({ state: 'finished', started: false, finish: { outcome: 'cancelled', logChunks: 0 } });
  });

  it('records a cancel for a job it never had, so a later offer cannot start it', () => {
    const ledger = restart();
    const id = randomUUID();
    ledger.recordCancelled(id, 1, 'cancelled: before delivery');
    expect(restart().get(id)).toMatchObject({ state: 'finished', started: false, finish: { outcome: 'cancelled' } });
  });

  it('forgets entries and work directories older than the retention period', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const ledger = new Ledger(dir, () => now);
    ledger.load();
    const old = offer();
    const kept = offer();
    ledger.accept(old);
    ledger.accept(kept);
    const work = join(dir, 'work');
    mkdirSync(join(work, `${old.jobId}-1`), { recursive: true });
    now += 8 * 86_400_000;
    ledger.transition(kept.jobId, 'dropped');
    expect(ledger.prune(7 * 86_400_000, work)).toEqual([old.jobId]);
    expect(existsSync(join(dir, 'jobs', old.jobId))).toBe(false);
    expect(existsSync(join(work, `${old.jobId}-1`))).toBe(false);
    expect(ledger.get(kept.jobId)).toBeDefined();
  });

  it('never builds a path from something that is not a job id', () => {
    expect(() => restart().jobDir('../../etc')).toThrow('is not a job id');
  });
});
