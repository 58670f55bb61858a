import { closeSync, ftruncateSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { StreamMasker } from '../../../src/protocol/masking';
import { LOG_STREAMS, MAX_LOG_CHUNK_CHARS, PROTOCOL_VERSION, type JobLog, type LogDropped, type LogStream } from '../../../src/protocol/messages';
import type { BudgetedSpool, SpoolBudget } from './spool-budget';

export interface SpoolOptions {
  /** A chunk is cut when it reaches this many characters (UTF-16 code units). */
  chunkChars: number;
  /** Output younger than this waits for more before it becomes a chunk. */
  flushMs: number;
  /** At most this many chunks are sent and not yet acknowledged. */
  windowChunks: number;
  /** The agent-wide cap on unsent output on disk, shared by every spool; none: no cap. */
  budget?: SpoolBudget;
}

export const DEFAULT_SPOOL_OPTIONS: SpoolOptions = { chunkChars: 16 * 1024, flushMs: 50, windowChunks: 64 };

export interface JobAttemptRef {
  jobId: string;
  attempt: number;
}

/** One line of the spool file. */
interface SpooledChunk {
  seq: number;
  stream: LogStream;
  text: string;
  /** The chunks right before this one were dropped (the spool reached its cap). */
  dropped?: LogDropped;
}

/** Where a chunk is in the spool file, and what the cap needs to know of it. */
interface Slot {
  seq: number;
  start: number;
  end: number;
  /** Its output's size (UTF-8), as "dropped" reports it. */
  textBytes: number;
  /** When it was written, in the budget's order over all spools. */
  stamp: number;
  dropped?: LogDropped;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Where to cut `text` so the first piece has at most `max` code units and no surrogate pair is split. */
function cutAt(text: string, max: number): number {
  if (text.length <= max) return text.length;
  return isHighSurrogate(text.charCodeAt(max - 1)) ? max - 1 : max;
}

/**
 * One job attempt's output on its way to the server: each stream masked by its own
 * StreamMasker (before anything touches the disk), coalesced into chunks numbered from 0,
 * appended to a spool file, then handed out for sending within a bounded window. Chunks stay
 * in the file, so the agent can resend from any sequence the server asks for.
 *
 * With a budget (the agent's `--spool-max-bytes`), the oldest unsent chunks may be dropped
 * while the control plane is unreachable: the file is rewritten without them (and without what
 * the server already acknowledged), and the next chunk kept carries `dropped`, so the gap in the
 * sequence is explained to the server, in the file as on the wire, across restarts.
 */
export class LogSpool implements BudgetedSpool {
  /** The next sequence to hand out for sending. */
  private sent = 0;
  /** Every chunk below this is stored by the server. */
  private acked = 0;
  private resentFrom: number | null = null;
  private lastProgressAt: number;
  /** The chunks in the file, in sequence order (with gaps where chunks were dropped or reclaimed). */
  private slots: Slot[] = [];
  /** The next chunk's sequence. */
  private nextSeq = 0;
  private fileEnd = 0;
  private droppedChunks = 0;
  private droppedBytes = 0;
  private pending: { stream: LogStream; text: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private closed = false;
  private readonly maskers: Record<LogStream, StreamMasker>;
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  private constructor(
    readonly path: string,
    private fd: number,
    readonly ref: JobAttemptRef,
    sensitiveValues: readonly string[],
    private readonly options: SpoolOptions,
    private readonly onChunk: () => void,
    private readonly now: () => number,
  ) {
    this.maskers = Object.fromEntries(LOG_STREAMS.map((s) => [s, new StreamMasker(sensitiveValues)])) as Record<LogStream, StreamMasker>;
    this.lastProgressAt = now();
    options.budget?.add(this);
  }

  /** A new, empty spool for a job attempt that is starting. */
  static create(path: string, ref: JobAttemptRef, sensitiveValues: readonly string[], onChunk: () => void, options: Partial<SpoolOptions> = {}, now: () => number = Date.now): LogSpool {
    const opts = { ...DEFAULT_SPOOL_OPTIONS, ...options };
    if (opts.chunkChars > MAX_LOG_CHUNK_CHARS || opts.chunkChars < 2) throw new Error(`chunkChars must be 2..${MAX_LOG_CHUNK_CHARS}`);
    const fd = openSync(path, 'w+', 0o600);
    return new LogSpool(path, fd, ref, sensitiveValues, opts, onChunk, now);
  }

  /**
   * The spool of a job that finished before the agent restarted: every complete chunk in the
   * file, ready to be resent from 0 (the server's acknowledgement skips what it already has).
   * A torn last line, from a crash mid-write, is cut off.
   */
  static reopen(path: string, ref: JobAttemptRef, onChunk: () => void, options: Partial<SpoolOptions> = {}, now: () => number = Date.now): LogSpool {
    const opts = { ...DEFAULT_SPOOL_OPTIONS, ...options };
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      bytes = Buffer.alloc(0);
    }
    const fd = openSync(path, bytes.length ? 'r+' : 'w+', 0o600);
    const spool = new LogSpool(path, fd, ref, [], opts, onChunk, now);
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(0x0a, start);
      if (newline === -1) break;
      let chunk: SpooledChunk | null;
      try {
        chunk = JSON.parse(bytes.subarray(start, newline).toString('utf8')) as SpooledChunk;
      } catch {
        chunk = null;
      }
      // The first chunk may follow reclaimed or dropped ones; after it, only a gap a chunk explains.
      const expected = spool.slots.length ? spool.nextSeq + (chunk?.dropped?.chunks ?? 0) : chunk?.seq;
      if (!chunk || !Number.isInteger(chunk.seq) || chunk.seq < 0 || chunk.seq !== expected || typeof chunk.text !== 'string') break;
      spool.slots.push({ seq: chunk.seq, start, end: newline + 1, textBytes: Buffer.byteLength(chunk.text), stamp: spool.stamp(), ...(chunk.dropped ? { dropped: chunk.dropped } : {}) });
      if (chunk.dropped) {
        spool.droppedChunks += chunk.dropped.chunks;
        spool.droppedBytes += chunk.dropped.bytes;
      }
      spool.nextSeq = chunk.seq + 1;
      start = newline + 1;
    }
    spool.fileEnd = start;
    if (start < bytes.length) ftruncateSync(fd, start);
    spool.ended = true;
    return spool;
  }

  /** How many chunks exist (the next chunk's sequence), the dropped ones included. */
  get count(): number {
    return this.nextSeq;
  }

  /** What the cap made this spool drop so far. */
  get dropped(): { chunks: number; bytes: number } {
    return { chunks: this.droppedChunks, bytes: this.droppedBytes };
  }

  get label(): string {
    return `job ${this.ref.jobId} attempt ${this.ref.attempt}`;
  }

  /** Bytes on disk of the chunks the server has not acknowledged. */
  get unsentBytes(): number {
    const i = this.indexOf(this.acked);
    return i < this.slots.length ? this.fileEnd - this.slots[i].start : 0;
  }

  /** Chunks the cap may drop: not handed out yet (those in flight may be stored already), and never the newest, which carries the news of the others. */
  droppable(): { stamp: number; bytes: number }[] {
    if (this.closed) return [];
    return this.slots.slice(this.indexOf(Math.max(this.sent, this.acked)), -1).map((s) => ({ stamp: s.stamp, bytes: s.end - s.start }));
  }

  /**
   * Drops the `count` oldest droppable chunks and gives their room back, with the room of what
   * the server acknowledged: the file is rewritten without them, the next chunk kept saying what
   * went. When the rewrite fails (the disk is full, say), nothing changes and nothing is dropped.
   */
  dropOldest(count: number): { chunks: number; bytes: number } {
    const first = this.indexOf(Math.max(this.sent, this.acked));
    const last = Math.min(first + count, this.slots.length - 1);
    if (this.closed || last <= first) return { chunks: 0, bytes: 0 };
    const gone = this.slots.slice(first, last);
    const heir = this.slots[last];
    const chunks = gone.length;
    const bytes = gone.reduce((n, g) => n + g.textBytes, 0);
    // The heir's gap covers the chunks dropped now and the gaps they themselves explained.
    const before = gone.reduce((d, g) => ({ chunks: d.chunks + 1 + (g.dropped?.chunks ?? 0), bytes: d.bytes + g.textBytes + (g.dropped?.bytes ?? 0) }), {
      chunks: heir.dropped?.chunks ?? 0,
      bytes: heir.dropped?.bytes ?? 0,
    });
    const capBytes = this.options.budget?.capBytes ?? 0;
    const kept = [...this.slots.slice(this.indexOf(this.acked), first), { ...heir, dropped: { ...before, capBytes } }, ...this.slots.slice(last + 1)];
    try {
      this.rewrite(kept, heir.seq);
    } catch {
      return { chunks: 0, bytes: 0 };
    }
    this.droppedChunks += chunks;
    this.droppedBytes += bytes;
    return { chunks, bytes };
  }

  /** The server's next expected sequence, as far as the agent knows. */
  get acknowledged(): number {
    return this.acked;
  }

  /** The job's output is complete and every chunk is stored by the server. */
  get allAcked(): boolean {
    return this.ended && this.pending === null && this.acked >= this.count;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Raw output from the job's stdout or stderr. */
  output(stream: 'stdout' | 'stderr', data: Buffer | string) {
    if (this.ended) return;
    const text = typeof data === 'string' ? data : this.decoders[stream].write(data);
    this.add(stream, this.maskers[stream].push(text));
  }

  /** One line of the agent's own words about the job. */
  system(line: string) {
    if (this.ended) return;
    const masker = this.maskers.system;
    this.add('system', masker.push(`${line}\n`) + masker.flush());
  }

  /** The output is complete: releases what the decoders and maskers held back and cuts the last chunk. */
  end() {
    if (this.ended) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const tail = this.decoders[stream].end();
      this.add(stream, this.maskers[stream].push(tail) + this.maskers[stream].flush());
    }
    this.flush();
    this.ended = true;
  }

  /** Chunks to send now: from the next unsent one, no further than the window allows. */
  take(): JobLog[] {
    if (this.closed) return [];
    const limit = Math.min(this.count, this.acked + this.options.windowChunks);
    const out: JobLog[] = [];
    if (this.sent >= limit) return out;
    if (this.sent === this.acked) this.lastProgressAt = this.now();
    for (let i = this.indexOf(this.sent); i < this.slots.length && this.slots[i].seq < limit; i++) out.push(this.read(this.slots[i]));
    this.sent = limit;
    return out;
  }

  /**
   * The server stores everything below `nextSeq`. An acknowledgement that makes no progress
   * while later chunks are out means the server is missing `nextSeq`: send again from there
   * (once per gap, so a burst of such answers does not become a burst of resends).
   */
  ack(nextSeq: number) {
    const n = Math.min(nextSeq, this.count);
    if (n > this.acked) {
      this.acked = n;
      if (this.sent < n) this.sent = n;
      this.resentFrom = null;
      this.lastProgressAt = this.now();
      return;
    }
    if (n < this.sent && this.resentFrom !== n) {
      this.acked = n; // the server is the authority on what it has stored
      this.sent = n;
      this.resentFrom = n;
      this.lastProgressAt = this.now();
    }
  }

  /** After a reconnect, or when acknowledgements stopped coming: send again from the last acknowledged chunk. */
  rewind() {
    this.sent = this.acked;
    this.resentFrom = null;
    this.lastProgressAt = this.now();
  }

  /** Chunks are out and nothing has been acknowledged for `ms`. */
  stalled(ms: number): boolean {
    return this.sent > this.acked && this.now() - this.lastProgressAt >= ms;
  }

  close() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.options.budget?.remove(this);
    closeSync(this.fd);
  }

  private add(stream: LogStream, text: string) {
    if (!text) return;
    if (this.pending && this.pending.stream !== stream) this.flush();
    if (this.pending) this.pending.text += text;
    else this.pending = { stream, text };
    while (this.pending && this.pending.text.length >= this.options.chunkChars) {
      const cut = cutAt(this.pending.text, this.options.chunkChars);
      const head = this.pending.text.slice(0, cut);
      const rest = this.pending.text.slice(cut);
      this.pending = rest ? { stream, text: rest } : null;
      this.append(stream, head);
    }
    if (this.pending && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.options.flushMs);
    } else if (!this.pending) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private flush() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const pending = this.pending;
    this.pending = null;
    if (pending?.text) this.append(pending.stream, pending.text);
  }

  private append(stream: LogStream, text: string) {
    if (this.closed) return;
    const seq = this.nextSeq;
    const line = Buffer.from(`${JSON.stringify({ seq, stream, text })}\n`, 'utf8');
    writeSync(this.fd, line, 0, line.length, this.fileEnd);
    this.slots.push({ seq, start: this.fileEnd, end: this.fileEnd + line.length, textBytes: Buffer.byteLength(text), stamp: this.stamp() });
    this.fileEnd += line.length;
    this.nextSeq = seq + 1;
    this.onChunk();
    this.options.budget?.grew();
  }

  private stamp(): number {
    return this.options.budget?.stamp() ?? 0;
  }

  /** The index of the first chunk in the file at or after `seq`. */
  private indexOf(seq: number): number {
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.slots[mid].seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private readLine(slot: Slot): string {
    const length = slot.end - slot.start;
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(this.fd, buffer, read, length - read, slot.start + read);
      if (n === 0) throw new Error(`log spool ${this.path} is shorter than expected (chunk ${slot.seq})`);
      read += n;
    }
    return buffer.toString('utf8', 0, length - 1);
  }

  private read(slot: Slot): JobLog {
    const chunk = JSON.parse(this.readLine(slot)) as SpooledChunk;
    return {
      type: 'agent.job.log',
      v: PROTOCOL_VERSION,
      jobId: this.ref.jobId,
      attempt: this.ref.attempt,
      seq: slot.seq,
      stream: chunk.stream,
      text: chunk.text,
      ...(chunk.dropped ? { dropped: chunk.dropped } : {}),
    };
  }

  /** Writes these chunks to a new file that replaces the spool; the one with sequence `changed` is written anew (its `dropped`). */
  private rewrite(kept: Slot[], changed: number) {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    const moved: Slot[] = [];
    let end = 0;
    try {
      for (const slot of kept) {
        let line = this.readLine(slot);
        if (slot.seq === changed) line = JSON.stringify({ ...(JSON.parse(line) as SpooledChunk), dropped: slot.dropped });
        const bytes = Buffer.from(`${line}\n`, 'utf8');
        writeSync(fd, bytes, 0, bytes.length, end);
        moved.push({ ...slot, start: end, end: end + bytes.length });
        end += bytes.length;
      }
      closeSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'r+');
    this.slots = moved;
    this.fileEnd = end;
  }
}
