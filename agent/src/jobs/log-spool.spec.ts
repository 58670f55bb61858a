import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_LOG_CHUNK_CHARS } from '../../../src/protocol/messages';
import { waitFor } from '../testing/fake-control-plane';
import { LogSpool, type SpoolOptions } from './log-spool';

describe('the log spool', () => {
  let dir: string;
  const open: LogSpool[] = [];
  const ref = { jobId: randomUUID(), attempt: 2 };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-spool-'));
  });
  afterEach(() => {
    for (const spool of open.splice(0)) spool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function spool(options: Partial<SpoolOptions> = {}, secrets: string[] = []) {
    let chunks = 0;
    const s = LogSpool.create(join(dir, 'log.jsonl'), ref, secrets, () => chunks++, { flushMs: 10_000, ...options });
    open.push(s);
    return { s, chunks: () => chunks };
  }

  it('coalesces small writes into one chunk once the output pauses, numbered from 0', async () => {
    const { s, chunks } = spool({ flushMs: 20 });
    s.output('stdout', Buffer.from('a'));
    s.output('stdout', Buffer.from('b\n'));
    expect(chunks()).toBe(0);
    await waitFor(() => chunks() === 1, 'the pause to cut a chunk');
    expect(s.take()).toEqual([{ type: 'agent.job.log', v: 1, jobId: ref.jobId, attempt: 2, seq: 0, stream: 'stdout', text: 'ab\n' }]);
    expect(readFileSync(join(dir, 'log.jsonl'), 'utf8')).toBe(`${JSON.stringify({ seq: 0, stream: 'stdout', text: 'ab\n' })}\n`);
  });

  it('cuts a chunk when the stream changes, keeping the order of the output', () => {
    const { s } = spool();
    s.output('stdout', 'out 1\n');
    s.output('stderr', 'err\n');
    s.output('stdout', 'out 2\n');
    s.system('exit code 0');
    s.end();
    expect(s.take().map((c) => [c.seq, c.stream, c.text])).toEqual([
      [0, 'stdout', 'out 1\n'],
      [1, 'stderr', 'err\n'],
      [2, 'stdout', 'out 2\n'],
      [3, 'system', 'exit code 0\n'],
    ]);
  });

  it('splits large output at the chunk size, never inside a surrogate pair, never above the protocol limit', () => {
    const { s } = spool({ chunkChars: 5 });
    s.output('stdout', 'abcd😀efgh');
    s.end();
    const texts = s.take().map((c) => c.text);
    expect(texts.join('')).toBe('abcd😀efgh');
    expect(texts[0]).toBe('abcd');
    expect(texts.every((t) => t.length <= 5)).toBe(true);
    expect(() => spool({ chunkChars: MAX_LOG_CHUNK_CHARS + 1 })).toThrow('chunkChars');
  });

  it('decodes a UTF-8 character split across two reads', () => {
    const { s } = spool();
    const bytes = Buffer.from('é', 'utf8');
    s.output('stdout', bytes.subarray(0, 1));
    s.output('stdout', bytes.subarray(1));
    s.end();
    expect(s.take()[0].text).toBe('é');
  });

  it('masks a sensitive value split across writes and across a chunk cut, before it reaches the disk', async () => {
    const { s, chunks } = spool({ flushMs: 10 }, ['hunter2-secret']);
    s.output('stdout', 'password: hunter2');
    await waitFor(() => chunks() === 1, 'the first chunk');
    s.output('stdout', '-secret, done\n');
    s.output('stderr', 'hunter2-secret\n');
    s.end();
    const sent = s.take();
    expect(sent.map((c) => c.text).join('')).toBe('password: ***, done\n***\n');
    expect(sent[0].text).toBe('password: ');
    expect(readFileSync(join(dir, 'log.jsonl'), 'utf8')).not.toContain('hunter2');
  });

  it('keeps at most a window of chunks unacknowledged, and releases more as acknowledgements come', () => {
    const { s } = spool({ chunkChars: 2, windowChunks: 3 });
    s.output('stdout', 'aabbccddee');
    s.end();
    expect(s.take().map((c) => c.seq)).toEqual([0, 1, 2]);
    expect(s.take()).toEqual([]);
    s.ack(2);
    expect(s.take().map((c) => c.seq)).toEqual([3, 4]);
    expect(s.allAcked).toBe(false);
    s.ack(5);
    expect(s.allAcked).toBe(true);
  });

  it('sends again from the sequence the server asks for when an acknowledgement makes no progress', () => {
    const { s } = spool({ chunkChars: 2 });
    s.output('stdout', 'aabbccdd');
    s.end();
    expect(s.take().map((c) => c.seq)).toEqual([0, 1, 2, 3]);
    s.ack(1); // progress while later chunks are in flight: nothing to resend
    expect(s.take()).toEqual([]);
    s.ack(1); // the same answer again: chunk 1 is missing
    expect(s.take().map((c) => [c.seq, c.text])).toEqual([
      [1, 'bb'],
      [2, 'cc'],
      [3, 'dd'],
    ]);
    s.ack(1); // once per gap, not once per answer
    expect(s.take()).toEqual([]);
    s.ack(0); // the server lost a chunk it had stored: it is the authority
    expect(s.take().map((c) => c.seq)).toEqual([0, 1, 2, 3]);
  });

  it('sends again from the last acknowledged chunk after a reconnect', () => {
    const { s } = spool({ chunkChars: 2 });
    s.output('stdout', 'aabbcc');
    s.end();
    s.take();
    s.ack(1);
    s.rewind();
    expect(s.take().map((c) => c.seq)).toEqual([1, 2]);
  });

  it('reopens after a restart with every complete chunk, cutting a torn last line', () => {
    const path = join(dir, 'log.jsonl');
    const { s } = spool({ chunkChars: 2 });
    s.output('stderr', 'aabb');
    s.end();
    s.close();
    appendFileSync(path, '{"seq":2,"stream":"std');
    const again = LogSpool.reopen(path, ref, () => undefined);
    open.push(again);
    expect(again.count).toBe(2);
    expect(again.take().map((c) => [c.seq, c.stream, c.text])).toEqual([
      [0, 'stderr', 'aa'],
      [1, 'stderr', 'bb'],
    ]);
    expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
    again.ack(2);
    expect(again.allAcked).toBe(true);
  });
});
