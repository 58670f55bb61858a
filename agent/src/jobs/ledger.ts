import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { writeFileDurably } from '../durable-file';
import { LedgerSecrets } from './ledger-secrets';
import { join } from 'node:path';
import { z } from 'zod';
import { JOB_OUTCOMES, JobOfferPayloadSchema, JobResultSchema, type JobOfferPayload, JobOutputSchema } from '../../../src/protocol/messages';

/**
 * What the agent knows about a job, durably:
 * - accepted: offer taken, waiting for `server.job.start` (the offer is kept so it can start after a restart)
 * - running: the start is recorded; a process was (or was about to be) spawned
 * - finished: the outcome is decided, the server has not acknowledged it yet
 * - reported: the server acknowledged the finish
 * - dropped: the server said the job is gone; not reported
 * - abandoned: it was running when the agent stopped and cannot be re-attached
 * A job id in any state never starts a second process.
 */
export const LEDGER_STATES = ['accepted', 'running', 'finished', 'reported', 'dropped', 'abandoned'] as const;
export type LedgerState = (typeof LEDGER_STATES)[number];

export const LEDGER_TRANSITIONS: Record<LedgerState, readonly LedgerState[]> = {
  accepted: ['accepted', 'running', 'finished', 'dropped'], // accepted again: a newer attempt of a job that never started
  running: ['finished', 'dropped', 'abandoned'],
  // accepted from finished, reported or abandoned: the control plane retries the job as a newer
  // attempt (only ever for a task declared idempotent); the older attempt is over here.
  finished: ['reported', 'dropped', 'accepted'],
  reported: ['accepted'],
  dropped: ['accepted', 'finished'], // only when it never started: a newer attempt of it, or a cancel of one
  abandoned: ['accepted'],
};

const FinishSchema = z.object({
  outcome: z.enum(JOB_OUTCOMES),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  message: z.string().nullable(),
  logChunks: z.number().int().min(0),
  /** What the job found, sent with its finish (entries from before results existed have none). */
  result: JobResultSchema.nullable().default(null),
  /** What the script set with `corral set-output`, when it set anything. */
  outputs: z.array(JobOutputSchema).optional(),
});
export type FinishRecord = z.infer<typeof FinishSchema>;

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const LedgerEntrySchema = z.object({
  version: z.literal(1),
  jobId: z.string().regex(JOB_ID),
  attempt: z.number().int().min(1),
  taskId: z.string().nullable(),
  name: z.string().nullable(),
  state: z.enum(LEDGER_STATES),
  /** Whether a process was ever about to be spawned for it. */
  started: z.boolean(),
  /** Kept only while the job may still start; holds the script and its sensitive values. */
  offer: JobOfferPayloadSchema.nullable(),
  leaseSeconds: z.number().int().nullable(),
  pid: z.number().int().nullable(),
  finish: FinishSchema.nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type LedgerEntry = z.infer<typeof LedgerEntrySchema>;

export class LedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerError';
  }
}

/**
 * The agent's durable record of every job it has taken, one directory per job id under
 * `<stateDir>/jobs/` (entry.json, and the job's log spool). It is what makes delivery
 * exactly-once in effect: a replayed offer finds its id here and never runs again.
 */
export class Ledger {
  readonly dir: string;
  private readonly entries = new Map<string, LedgerEntry>();
  /** Job ids whose entry.json could not be read: known, so never run, but nothing else is known. */
  readonly damaged = new Set<string>();

  private readonly secrets: LedgerSecrets;

  constructor(
    stateDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(stateDir, 'jobs');
    this.secrets = new LedgerSecrets(this.dir);
  }

  /** Reads every entry from disk; call once at startup. */
  load(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.entries.clear();
    this.damaged.clear();
    for (const name of readdirSync(this.dir)) {
      if (!JOB_ID.test(name)) continue;
      const path = this.entryPath(name);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        // A directory without entry.json was created but its first write never landed.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.damaged.add(name.toLowerCase());
          continue;
        }
        throw err;
      }
      try {
        // Opened before it is checked: a sealed value is longer than the value.
        const entry = LedgerEntrySchema.parse(this.sealed(JSON.parse(text) as LedgerEntry, (v, id) => this.secrets.open(v, id)));
        if (entry.jobId.toLowerCase() !== name.toLowerCase()) throw new Error('job id does not match its directory');
        this.entries.set(entry.jobId.toLowerCase(), entry);
      } catch {
        this.damaged.add(name.toLowerCase());
      }
    }
  }

  get(jobId: string): LedgerEntry | undefined {
    return this.entries.get(jobId.toLowerCase());
  }

  /** True for any id the ledger has seen, including damaged entries. */
  knows(jobId: string): boolean {
    return this.entries.has(jobId.toLowerCase()) || this.damaged.has(jobId.toLowerCase());
  }

  all(): LedgerEntry[] {
    return [...this.entries.values()];
  }

  jobDir(jobId: string): string {
    if (!JOB_ID.test(jobId)) throw new LedgerError(`"${jobId}" is not a job id`);
    return join(this.dir, jobId.toLowerCase());
  }

  spoolPath(jobId: string, attempt: number): string {
    return join(this.jobDir(jobId), `log-${attempt}.jsonl`);
  }

  /** Records a newly accepted offer (or a newer attempt of a job that never started). */
  accept(offer: JobOfferPayload): LedgerEntry {
    const previous = this.get(offer.jobId);
    if (previous) this.check(previous, 'accepted');
    if (previous?.started && previous.attempt >= offer.attempt) throw new LedgerError(`attempt ${previous.attempt} of job ${offer.jobId} already started on this agent; it never runs twice`);
    const at = new Date(this.now()).toISOString();
    return this.write({
      version: 1,
      jobId: offer.jobId,
      attempt: offer.attempt,
      taskId: offer.taskId,
      name: offer.name,
      state: 'accepted',
      started: false,
      offer,
      leaseSeconds: null,
      pid: null,
      finish: null,
      createdAt: previous?.createdAt ?? at,
      updatedAt: at,
    });
  }

  /**
   * Records a job the agent will never run (a cancel for a job it does not have, or has not
   * started): finished as cancelled, so a later offer or start for it is ignored.
   */
  recordCancelled(jobId: string, attempt: number, message: string | null): LedgerEntry {
    const previous = this.get(jobId);
    if (previous) this.check(previous, 'finished');
    if (previous?.started) throw new LedgerError(`job ${jobId} already started; only its process can finish it`);
    const at = new Date(this.now()).toISOString();
    return this.write({
      version: 1,
      jobId,
      attempt,
      taskId: previous?.taskId ?? null,
      name: previous?.name ?? null,
      state: 'finished',
      started: false,
      offer: null,
      leaseSeconds: null,
      pid: null,
      finish: { outcome: 'cancelled', exitCode: null, signal: null, message, logChunks: 0, result: null },
      createdAt: previous?.createdAt ?? at,
      updatedAt: at,
    });
  }

  /** Moves an entry to another state, checking the transition; the write is durable before this returns. */
  transition(jobId: string, state: LedgerState, patch: Partial<Pick<LedgerEntry, 'started' | 'offer' | 'leaseSeconds' | 'pid' | 'finish'>> = {}): LedgerEntry {
    const entry = this.get(jobId);
    if (!entry) throw new LedgerError(`job ${jobId} is not in the ledger`);
    if (state !== entry.state) this.check(entry, state);
    // The script and its secrets are needed only until the job has started.
    const offer = state === 'accepted' || state === 'running' ? (patch.offer ?? entry.offer) : null;
    return this.write({ ...entry, ...patch, offer, state, updatedAt: new Date(this.now()).toISOString() });
  }

  /** Removes entries (and their work directories) last touched before `olderThanMs` ago; returns their ids. */
  prune(olderThanMs: number, workRoot: string, keep: (entry: LedgerEntry) => boolean = () => false): string[] {
    const cutoff = this.now() - olderThanMs;
    const removed: string[] = [];
    for (const entry of this.all()) {
      if (Date.parse(entry.updatedAt) >= cutoff || keep(entry)) continue;
      rmSync(this.jobDir(entry.jobId), { recursive: true, force: true });
      rmSync(join(workRoot, `${entry.jobId}-${entry.attempt}`), { recursive: true, force: true });
      this.entries.delete(entry.jobId.toLowerCase());
      removed.push(entry.jobId);
    }
    return removed;
  }

  /** The entry with `change` applied to each of its sensitive values: what is written is sealed, what is read is opened. */
  private sealed(entry: LedgerEntry, change: (value: string, jobId: string) => string): LedgerEntry {
    const { jobId, offer, finish } = entry;
    return {
      ...entry,
      offer: offer && { ...offer, sensitiveValues: offer.sensitiveValues.map((v) => change(v, jobId)) },
      finish: finish && { ...finish, ...(finish.outputs ? { outputs: finish.outputs.map((o) => (o.sensitive ? { ...o, value: change(o.value, jobId) } : o)) } : {}) },
    };
  }

  private check(entry: LedgerEntry, next: LedgerState) {
    if (!LEDGER_TRANSITIONS[entry.state].includes(next)) throw new LedgerError(`job ${entry.jobId} cannot go from ${entry.state} to ${next}`);
  }

  private entryPath(jobId: string): string {
    return join(this.jobDir(jobId), 'entry.json');
  }

  private write(entry: LedgerEntry): LedgerEntry {
    const parsed = LedgerEntrySchema.parse(entry);
    mkdirSync(this.jobDir(entry.jobId), { recursive: true, mode: 0o700 });
    const path = this.entryPath(entry.jobId);
    try {
      writeFileDurably(
        path,
        `${JSON.stringify(
          this.sealed(parsed, (v, id) => this.secrets.seal(v, id)),
          null,
          2,
        )}\n`,
      );
    } catch (err) {
      try {
        unlinkSync(`${path}.tmp`);
      } catch {
        // nothing to clean
      }
      throw err;
    }
    this.entries.set(entry.jobId.toLowerCase(), parsed);
    this.damaged.delete(entry.jobId.toLowerCase());
    return parsed;
  }
}
