/** What one batch gives each of its items, in the order they were submitted. */
export type BatchRun<I, O> = (items: I[]) => Promise<O[]>;

export interface BatcherOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Most batches in flight at once. */
  concurrency: number;
  /**
   * For work nobody waits on closely (an acknowledgement, presence): how long a new batch waits
   * for company before it goes. Under load batches form anyway, from what arrives while others
   * are in flight (and those go as soon as one returns); this makes them form at a trickle too.
   */
  lingerMs?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Turns many small requests into few statements: everything submitted while earlier batches
 * are in flight (or during the same turn of the event loop) goes out together as the next one.
 * An idle database sees each request at once; a busy one sees bigger batches, not a longer queue.
 */
export class Batcher<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: BatchRun<I, O>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule(this.options.lingerMs ?? 0);
    });
  }

  private schedule(lingerMs = 0) {
    if (this.scheduled || !this.waiting.length || this.inFlight >= this.options.concurrency) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.flush();
    };
    // Requests that arrive in the same turn (messages read from many sockets at once) share a batch.
    if (lingerMs > 0) setTimeout(go, lingerMs);
    else setImmediate(go);
  }

  private flush() {
    while (this.waiting.length && this.inFlight < this.options.concurrency) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      this.run(batch.map((w) => w.item))
        .then(
          (results) => batch.forEach((w, i) => w.resolve(results[i])),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }
}
