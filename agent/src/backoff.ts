export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, capMs: 60_000 };

// Agents told the same Retry-After spread over this much more, not over the whole backoff range.
const RETRY_AFTER_JITTER_MS = 1_000;

/**
 * Full-jitter exponential backoff: attempt n waits a uniformly random time in
 * [0, min(cap, base·2^n)). The first attempt is jittered too, so a thousand agents cut off by
 * one restart do not come back in the same second.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The upper bound of the next delay, before jitter. */
  ceiling(): number {
    return Math.min(this.options.capMs, this.options.baseMs * 2 ** this.attempt);
  }

  /**
   * The delay before the next attempt. A server's Retry-After is a time it chose for this agent
   * (it spreads a crowd over the seconds it needs to admit it): the agent waits that long, plus at
   * most a second of jitter, and does not back off further, since the server is up and pacing.
   */
  next(retryAfterMs?: number): number {
    const ceiling = this.ceiling();
    if (retryAfterMs !== undefined) return retryAfterMs + Math.floor(this.random() * Math.min(ceiling, RETRY_AFTER_JITTER_MS));
    if (ceiling < this.options.capMs) this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  reset() {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Resolves after `ms`, or at once when the signal aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
