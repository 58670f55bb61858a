/**
 * Requests a second per caller (an address, an API key, a session), on one node: a token bucket
 * each, holding up to two seconds' worth, so a burst is fine and a steady flood is not. Buckets
 * that are full again are forgotten, so memory follows the callers of the last few seconds.
 */
export class RequestRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastSweep = now();
  }

  /** Takes one request of `caller` at `perSecond`; null when allowed, else the seconds until one is. */
  take(caller: string, perSecond: number): number | null {
    const now = this.now();
    this.sweep(now);
    const burst = Math.max(1, 2 * perSecond);
    const bucket = this.buckets.get(caller) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    this.buckets.set(caller, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return null;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
  }

  /** How many callers are remembered. */
  get size(): number {
    return this.buckets.size;
  }

  // Every few seconds: a bucket untouched for two seconds has refilled at any rate of at least one a second.
  private sweep(now: number) {
    if (now - this.lastSweep < 5_000) return;
    this.lastSweep = now;
    for (const [caller, bucket] of this.buckets) if (now - bucket.at > 2_000) this.buckets.delete(caller);
  }
}
