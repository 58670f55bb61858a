import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';

/** Lines are written together, at most this often: one write a second, not one a request. */
const FLUSH_MS = 1000;
/** Rotated files kept beside the live one (path.1 is the newest). */
const KEEP = 3;

/**
 * The task and API metrics log (CORRAL_METRICS_LOG): one JSON object a line, for a log shipper
 * (telegraf's `tail` input, Filebeat, Vector) to read into Elasticsearch or InfluxDB. Past its
 * size the file is renamed to path.1 (path.1 to path.2, …, KEEP of them) and a new one begun, as
 * logrotate's `copytruncate`-free rotation does: a shipper following the name picks up the new
 * file. Closed (the default), it costs nothing.
 */
export class MetricsLog {
  private path: string | null = null;
  private maxBytes = 0;
  private size = 0;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  get enabled(): boolean {
    return this.path !== null;
  }

  open(path: string, maxBytes: number) {
    this.path = path;
    this.maxBytes = maxBytes;
    this.size = existsSync(path) ? statSync(path).size : 0;
  }

  /** A finished task: what it was, whose, how long it waited and ran, and how it ended. */
  task(line: { kind: string; organizationId: string; taskId: string; outcome: string; queuedSeconds: number; runningSeconds: number; jobs: number }) {
    this.write({ type: 'task', ...line });
  }

  /** An answered API request, by route template (never its raw path, which may hold ids or tokens). */
  request(line: { method: string; route: string; status: number; durationMs: number; organizationId: string | null }) {
    this.write({ type: 'request', ...line });
  }

  /** Writes what is pending now, synchronously: for a node that is stopping. */
  close() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.path && this.pending.length) appendFileSync(this.path, this.pending.splice(0).join(''));
    this.path = null;
  }

  private write(record: Record<string, unknown>) {
    if (!this.path) return;
    this.pending.push(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush() {
    this.timer = null;
    const path = this.path;
    if (!path || !this.pending.length) return;
    const text = this.pending.splice(0).join('');
    this.writing = this.writing.then(async () => {
      try {
        if (this.size > 0 && this.size + Buffer.byteLength(text) > this.maxBytes) this.rotate(path);
        await appendFile(path, text);
        this.size += Buffer.byteLength(text);
      } catch {
        // A full or unwritable disk loses these lines, not the node: the metrics and logs still say it all.
      }
    });
  }

  private rotate(path: string) {
    for (let n = KEEP - 1; n >= 1; n--) if (existsSync(`${path}.${n}`)) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
    if (existsSync(path)) renameSync(path, `${path}.1`);
    this.size = 0;
  }
}

/** The node's one metrics log, opened at start-up when CORRAL_METRICS_LOG is set. */
export const metricsLog = new MetricsLog();
