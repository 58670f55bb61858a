/** What the budget needs of a spool. */
export interface BudgetedSpool {
  /** Bytes on disk of chunks the server has not acknowledged. */
  readonly unsentBytes: number;
  /** The chunks that may be dropped (not sent yet, and not the spool's newest), oldest first: when each was written and its size on disk. */
  droppable(): { stamp: number; bytes: number }[];
  /** Drops this many of the oldest droppable chunks and gives their room back; what was dropped. */
  dropOldest(count: number): { chunks: number; bytes: number };
  readonly label: string;
}

/** What one enforcement dropped, for the agent's log. */
export interface SpoolDrop {
  spool: string;
  chunks: number;
  bytes: number;
  capBytes: number;
}

/** After a drop, the spools hold at most this share of the cap, so that a drop (which rewrites the files it trims) is not needed again for the next chunk. */
const LOW_WATER = 3 / 4;

/**
 * The agent-wide cap on unsent job output on disk (`--spool-max-bytes`). While the control
 * plane is reachable, chunks are acknowledged and never come near it; during an outage, once
 * every spool together passes the cap, the oldest unsent chunks (over all jobs) are dropped until
 * they are under three quarters of it, keeping the newest output. Each spool's next chunk says
 * what it lost, and the jobs keep running.
 */
export class SpoolBudget {
  private readonly spools = new Set<BudgetedSpool>();
  private stamps = 0;
  private enforcing = false;

  constructor(
    readonly capBytes: number,
    private readonly dropped: (drop: SpoolDrop) => void = () => undefined,
  ) {
    if (!Number.isSafeInteger(capBytes) || capBytes < 1) throw new Error('the spool cap must be a positive number of bytes');
  }

  /** An ever-increasing number: the order chunks were written in, over all spools. */
  stamp(): number {
    return ++this.stamps;
  }

  add(spool: BudgetedSpool): void {
    this.spools.add(spool);
  }

  remove(spool: BudgetedSpool): void {
    this.spools.delete(spool);
  }

  /** Unsent bytes on disk, over every spool. */
  get usedBytes(): number {
    let total = 0;
    for (const s of this.spools) total += s.unsentBytes;
    return total;
  }

  /** A spool grew: past the cap, drop the oldest unsent chunks. */
  grew(): void {
    if (this.enforcing) return;
    const used = this.usedBytes;
    if (used <= this.capBytes) return;
    this.enforcing = true;
    try {
      this.trim(used - Math.floor(this.capBytes * LOW_WATER));
    } finally {
      this.enforcing = false;
    }
  }

  private trim(excess: number) {
    const candidates = [...this.spools].flatMap((spool) => spool.droppable().map((c) => ({ spool, ...c }))).sort((a, b) => a.stamp - b.stamp);
    const counts = new Map<BudgetedSpool, number>();
    let freed = 0;
    for (const c of candidates) {
      if (freed >= excess) break;
      counts.set(c.spool, (counts.get(c.spool) ?? 0) + 1);
      freed += c.bytes;
    }
    for (const [spool, count] of counts) {
      const { chunks, bytes } = spool.dropOldest(count);
      if (chunks) this.dropped({ spool: spool.label, chunks, bytes, capBytes: this.capBytes });
    }
  }
}
