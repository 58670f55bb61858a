import { closeSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { StreamMasker } from '../../../src/protocol/masking';
import { LOG_STREAMS, MAX_LOG_CHUNK_CHARS, PROTOCOL_VERSION, type JobLog, type LogStream } from '../../../src/protocol/messages';

export interface SpoolOptions {
  /** A chunk is cut when it reaches this many characters (UTF-16 code units). */
  chunkChars: number;
  /** Output younger than this waits for more before it becomes a chunk. */
  flushMs: number;
  /** At most this many chunks are sent and not yet acknowledged. */
  windowChunks: number;
}

export const DEFAULT_SPOOL_OPTIONS: SpoolOptions = { chunkChars: 16 * 1024, flushMs: 50, windowChunks: 64 };

export interface JobAttemptRef {
  jobId: string;
  attempt: number;
}

interface SpooledChunk {
  seq: number;
  stream: LogStream;
  text: string;
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
 */
export class LogSpool {
  /** The next sequence to hand out for sending. */
  private sent = 0;
  /** Every chunk below this is stored by the server. */
  private acked = 0;
  private resentFrom: number | null = null;
  private lastProgressAt: number;
  // offsets[i] is where chunk i starts in the file; offsets[count] is the end.
  private readonly offsets: number[] = [0];
  private pending: { stream: LogStream; text: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private closed = false;
  private readonly maskers: Record<LogStream, StreamMasker>;
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };

  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly ref: JobAttemptRef,
    sensitiveValues: readonly string[],
    private readonly options: SpoolOptions,
    private readonly onChunk: () => void,
    private readonly now: () => number,
  ) {
    this.maskers = Object.fromEntries(LOG_STREAMS.map((s) => [s, new StreamMasker(sensitiveValues)])) as Record<LogStream, StreamMasker>;
    this.lastProgressAt = now();
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
      if (!chunk || chunk.seq !== spool.count) break;
      start = newline + 1;
      spool.offsets.push(start);
    }
    if (start < bytes.length) ftruncateSync(fd, start);
    spool.ended = true;
    return spool;
  }

  /** How many chunks exist (the next chunk's sequence). */
  get count(): number {
    return this.offsets.length - 1;
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
    if (this.sent === this.acked && this.sent < limit) this.lastProgressAt = this.now();
    for (; this.sent < limit; this.sent++) out.push(this.read(this.sent));
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
    const seq = this.count;
    const line = Buffer.from(`${JSON.stringify({ seq, stream, text })}\n`, 'utf8');
    writeSync(this.fd, line, 0, line.length, this.offsets[seq]);
    this.offsets.push(this.offsets[seq] + line.length);
    this.onChunk();
  }

  private read(seq: number): JobLog {
    const start = this.offsets[seq];
    const length = this.offsets[seq + 1] - start;
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(this.fd, buffer, read, length - read, start + read);
      if (n === 0) throw new Error(`log spool ${this.path} is shorter than expected (chunk ${seq})`);
      read += n;
    }
    const chunk = JSON.parse(buffer.toString('utf8', 0, length - 1)) as SpooledChunk;
    return { type: 'agent.job.log', v: PROTOCOL_VERSION, jobId: this.ref.jobId, attempt: this.ref.attempt, seq, stream: chunk.stream, text: chunk.text };
  }
}
