/**
 * Fair shares of one node's dispatch between organisations. Every agent has its own queue, so no
 * organisation's jobs wait behind another's in a queue; what they share is the node (its event
 * loop, its database connections and the database's CPU). An organisation that drains a flood of
 * short jobs can use all of it and slow every other organisation's dispatch with it.
 *
 * So, when the node is busy (its load over the last window, the larger of its event loop's
 * utilisation and its statements' share of database time, passed `busyLoad`) and more than one
 * organisation is dispatching, an organisation offered more than its
 * equal part of the offers is held to a rate: it shrinks by a quarter each busy window, down to
 * `minRatePerSecond`, and grows back by a quarter each window the node is not busy; an
 * organisation dispatching alone, or a node that stays calm, holds no one back. The same
 * additive-increase, multiplicative-decrease idea keeps TCP flows fair. An organisation that
 * dispatches little never reaches its part, so it is never held back and its jobs are offered as
 * on a quiet node.
 *
 * Pure bookkeeping: the caller measures the load, asks before claiming, and serves again the agents
 * it held back when `tick` says their organisation may go on.
 */
export interface FairShareOptions {
  /** How often the caller calls `tick`. */
  windowMs: number;
  /** The load above which the node counts as busy (1: its event loop, or one database connection, used all the time). */
  busyLoad: number;
  /** A held organisation is never held below this many offers a second. */
  minRatePerSecond: number;
}

export const DEFAULT_FAIR_SHARE: FairShareOptions = { windowMs: 250, busyLoad: 0.5, minRatePerSecond: 50 };

const DECREASE = 0.75;
const INCREASE = 1.25;

interface Hold {
  /** Offers a second it may have. */
  rate: number;
  /** Offers it may have now: refilled at `rate`, up to one window's worth. */
  tokens: number;
  refilledAt: number;
}

export class FairShare {
  /** Offers made in the current window, by organisation. */
  private readonly offered = new Map<string, number>();
  private readonly holds = new Map<string, Hold>();

  constructor(
    private readonly options: FairShareOptions = DEFAULT_FAIR_SHARE,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether the organisation is held to a rate now. */
  isHeld(organizationId: string): boolean {
    return this.holds.has(organizationId);
  }

  /** Takes up to `wanted` offers for the organisation: all of them unless it is held; give back what a claim did not use. */
  take(organizationId: string, wanted: number): number {
    const hold = this.holds.get(organizationId);
    if (!hold) return wanted;
    this.refill(hold);
    const n = Math.max(0, Math.min(wanted, Math.floor(hold.tokens)));
    hold.tokens -= n;
    return n;
  }

  /** Offers taken and not made. */
  giveBack(organizationId: string, n: number) {
    const hold = this.holds.get(organizationId);
    if (hold && n > 0) hold.tokens += n;
  }

  /** Offers made (whether taken through `take` or not), counted towards the organisation's part. */
  offeredTo(organizationId: string, n: number) {
    if (n > 0) this.offered.set(organizationId, (this.offered.get(organizationId) ?? 0) + n);
  }

  /**
   * Ends a window, given the node's load measured over it; returns the organisations
   * that were held and may have offers now (the agents they held back should be served again).
   */
  tick(load: number): string[] {
    const seconds = this.options.windowMs / 1000;
    const wasHeld = [...this.holds.keys()];
    const rates = new Map([...this.offered].map(([org, n]) => [org, n / seconds]));
    this.offered.clear();
    // A held organisation still dispatches, if only at its rate.
    for (const org of wasHeld) if (!rates.has(org)) rates.set(org, 0);
    if (rates.size < 2) this.holds.clear();
    else if (load > this.options.busyLoad) {
      const part = [...rates.values()].reduce((a, b) => a + b, 0) / rates.size;
      for (const [org, rate] of rates) {
        const hold = this.holds.get(org);
        if (!hold && rate <= part) continue;
        const next = Math.max(this.options.minRatePerSecond, (hold?.rate ?? rate) * DECREASE);
        if (hold) hold.rate = next;
        else this.holds.set(org, { rate: next, tokens: next * seconds, refilledAt: this.now() });
      }
    } else {
      for (const [org, hold] of this.holds) {
        hold.rate *= INCREASE;
        // Offered well below what it may have: the hold no longer binds.
        if ((rates.get(org) ?? 0) < hold.rate / (2 * INCREASE * INCREASE)) this.holds.delete(org);
      }
    }
    return wasHeld.filter((org) => {
      const hold = this.holds.get(org);
      if (!hold) return true;
      this.refill(hold);
      return hold.tokens >= 1;
    });
  }

  private refill(hold: Hold) {
    const now = this.now();
    const burst = Math.max(1, hold.rate * (this.options.windowMs / 1000));
    hold.tokens = Math.min(burst, hold.tokens + ((now - hold.refilledAt) / 1000) * hold.rate);
    hold.refilledAt = now;
  }
}
