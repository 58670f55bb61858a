import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes } from '../../../src/protocol/byte-size';
import { JobLogSchema } from '../../../src/protocol/messages';
import { parseByteSize } from '../config';
import { LogSpool } from './log-spool';
import { SpoolBudget, type SpoolDrop } from './spool-budget';

// Each chunk below is 100 characters of output, about 140 bytes on disk as a JSON line.
const LINE = 'x'.repeat(99) + '\n';

describe('the spool cap', () => {
  let dir: string;
  const open: LogSpool[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-spool-cap-'));
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function spool(budget: SpoolBudget, name: string, ref = { jobId: randomUUID(), attempt: 1 }) {
    const s = LogSpool.create(join(dir, name), ref, [], () => undefined, { chunkChars: 100, flushMs: 10_000, budget });
    open.push(s);
    return s;
  }

  function budget(capBytes: number) {
    const drops: SpoolDrop[] = [];
    return { b: new SpoolBudget(capBytes, (d) => drops.push(d)), drops };
  }

  it('past the cap drops the oldest unsent chunks over all jobs, keeps the newest, and the next chunk says what went', () => {
    const { b, drops } = budget(1_000);
    const a = spool(b, 'a.jsonl');
    const c = spool(b, 'c.jsonl');
    for (let i = 0; i < 6; i++) a.output('stdout', LINE); // the oldest output
    for (let i = 0; i < 6; i++) c.output('stdout', LINE);
    expect(b.usedBytes).toBeLessThanOrEqual(1_000);
    expect(statSync(join(dir, 'a.jsonl')).size + statSync(join(dir, 'c.jsonl')).size).toBe(b.usedBytes);
    // Job a's output was written first, so it went first; its newest chunk stays to tell of it.
    expect(drops[0]).toMatchObject({ spool: expect.stringContaining('attempt 1'), capBytes: 1_000 });
    const fromA = a.take();
    expect(fromA.map((m) => m.seq)).toEqual([5]);
    expect(fromA[0].dropped).toEqual({ chunks: 5, bytes: 500, capBytes: 1_000 });
    expect(JobLogSchema.parse(fromA[0])).toEqual(fromA[0]);
    expect(a.dropped).toEqual({ chunks: 5, bytes: 500 });
    // Job c kept its newest output, in order, the gap (if any) explained.
    const fromC = c.take();
    expect(fromC.at(-1)?.seq).toBe(5);
    for (const [i, m] of fromC.entries()) {
      const previous = i === 0 ? -1 : fromC[i - 1].seq;
      expect(m.seq - previous - 1).toBe(m.dropped?.chunks ?? 0);
    }
    // The job goes on: later output is spooled and numbered on.
    a.output('stdout', LINE);
    a.end();
    expect(a.take().map((m) => m.seq)).toEqual([6]);
    expect(a.count).toBe(7);
    a.ack(7);
    expect(a.allAcked).toBe(true);
  });

  it('never drops chunks that are out for sending; after a reconnect they count as unsent again', () => {
    const { b } = budget(1_200);
    const s = spool(b, 'log.jsonl');
    for (let i = 0; i < 3; i++) s.output('stdout', LINE);
    expect(s.take().map((m) => m.seq)).toEqual([0, 1, 2]); // in flight: the server may store them
    for (let i = 0; i < 6; i++) s.output('stdout', LINE);
    s.rewind(); // the connection was lost
    const resent = s.take();
    expect(resent.slice(0, 3).map((m) => [m.seq, m.dropped])).toEqual([
      [0, undefined],
      [1, undefined],
      [2, undefined],
    ]);
    expect(resent[3].seq).toBeGreaterThan(3);
    expect(resent[3].dropped?.chunks).toBe(resent[3].seq - 3);

    // Now that everything is unsent again, the next growth may drop them too.
    s.rewind();
    for (let i = 0; i < 4; i++) s.output('stdout', LINE);
    expect(b.usedBytes).toBeLessThanOrEqual(1_200);
    const again = s.take();
    expect(again[0].seq).toBeGreaterThan(0);
    expect(again[0].dropped).toMatchObject({ chunks: again[0].seq });
  });

  it('gives back the room of acknowledged chunks, and a gap merged into a later drop is reported whole', () => {
    const { b } = budget(1_100);
    const s = spool(b, 'log.jsonl');
    for (let i = 0; i < 4; i++) s.output('stdout', LINE);
    s.take();
    s.ack(4); // stored by the server
    for (let i = 0; i < 12; i++) s.output('stdout', LINE);
    expect(statSync(join(dir, 'log.jsonl')).size).toBeLessThanOrEqual(1_100);
    const out = s.take();
    expect(out[0].seq).toBeGreaterThan(4);
    expect(out[0].dropped).toEqual({ chunks: out[0].seq - 4, bytes: (out[0].seq - 4) * 100, capBytes: 1_100 });
    expect(s.dropped).toEqual({ chunks: out[0].seq - 4, bytes: (out[0].seq - 4) * 100 });
  });

  it('keeps the gap and what went across a restart: a reopened spool resends with the same dropped counts', () => {
    const { b } = budget(1_000);
    const ref = { jobId: randomUUID(), attempt: 3 };
    const s = spool(b, 'log.jsonl', ref);
    for (let i = 0; i < 10; i++) s.output('stdout', LINE);
    s.end();
    const before = s.take();
    s.close();

    const reopened = LogSpool.reopen(join(dir, 'log.jsonl'), ref, () => undefined, { budget: new SpoolBudget(1_000) });
    open.push(reopened);
    expect(reopened.count).toBe(10);
    expect(reopened.dropped).toEqual(s.dropped);
    expect(reopened.take()).toEqual(before);
    reopened.ack(10);
    expect(reopened.allAcked).toBe(true);
  });

  it('without a cap (or under it) drops nothing', () => {
    const s = LogSpool.create(join(dir, 'free.jsonl'), { jobId: randomUUID(), attempt: 1 }, [], () => undefined, { chunkChars: 100, flushMs: 10_000 });
    open.push(s);
    for (let i = 0; i < 50; i++) s.output('stdout', LINE);
    expect(s.take().map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(s.dropped).toEqual({ chunks: 0, bytes: 0 });
  });
});

describe('sizes', () => {
  it.each([
    [80, '80 bytes'],
    [1, '1 byte'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [12.3 * 1024 ** 2, '12.3 MiB'],
    [1024 ** 3, '1 GiB'],
    [150 * 1024 ** 2, '150 MiB'],
  ])('formats %d bytes as %s', (bytes, text) => {
    expect(formatBytes(Math.round(bytes))).toBe(text);
  });

  it.each([
    ['1073741824', 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['2G', 2 * 1024 ** 3],
    ['64k', 64 * 1024],
    ['1.5 GiB', 1.5 * 1024 ** 3],
  ])('reads the spool cap %s', (text, bytes) => {
    expect(parseByteSize(text, '--spool-max-bytes')).toBe(bytes);
  });

  it.each(['', 'lots', '-1', '1000', '10 parsecs'])('refuses the spool cap "%s", saying what it takes', (text) => {
    expect(() => parseByteSize(text, '--spool-max-bytes')).toThrow(/--spool-max-bytes: the spool cap must be a size of at least 64 KiB/);
  });
});
