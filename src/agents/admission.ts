/**
 * Paces new agent connections: a token bucket refilled at `rate` per second. An agent turned away
 * is given the next free second after those already promised, so a crowd comes back at the rate
 * the node admits it, and a refused attempt (which costs the node nothing) cannot make the queue
 * longer.
 */
export class Admission {
  private tokens: number;
  private at: number;
  private nextSlotAt = 0;

  constructor(
    private readonly rate: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = rate;
    this.at = now();
  }

  /** Null when the connection is admitted now, else the seconds it should wait. */
  admit(): number | null {
    const now = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return null;
    }
    this.nextSlotAt = Math.max(now, this.nextSlotAt) + 1000 / this.rate;
    return Math.max(1, Math.ceil((this.nextSlotAt - now) / 1000));
  }

  /** How long `agents` leaving at once should spread their return over to be admitted as they arrive. */
  spreadMs(agents: number): number {
    return Math.max(1000, Math.ceil((agents / this.rate) * 1000));
  }
}
