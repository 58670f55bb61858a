import { Batcher } from './batcher';

describe('Batcher', () => {
  it('sends what arrives in one turn as one batch, and each caller gets its own result', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(async (items) => (batches.push(items), items.map((i) => i * 10)), { maxBatch: 100, concurrency: 1 });
    const results = await Promise.all([1, 2, 3].map((i) => batcher.submit(i)));
    expect(results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('collects what arrives while a batch is in flight into the next one, up to maxBatch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const batcher = new Batcher<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await first;
        return items;
      },
      { maxBatch: 2, concurrency: 1 },
    );
    const a = batcher.submit(1);
    await new Promise((r) => setImmediate(r));
    const rest = [2, 3, 4].map((i) => batcher.submit(i));
    release();
    await Promise.all([a, ...rest]);
    expect(batches).toEqual([[1], [2, 3], [4]]);
  });

  it('rejects every caller of a batch that failed, and goes on with the next', async () => {
    let fail = true;
    const batcher = new Batcher<number, number>(
      async (items) => {
        if (fail) throw new Error('database went away');
        return items;
      },
      { maxBatch: 10, concurrency: 1 },
    );
    await expect(Promise.all([batcher.submit(1), batcher.submit(2)])).rejects.toThrow('database went away');
    fail = false;
    await expect(batcher.submit(3)).resolves.toBe(3);
  });

  it('with a linger, waits that long for company before a batch goes', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(async (items) => (batches.push(items), items), { maxBatch: 10, concurrency: 1, lingerMs: 200 });
    const first = batcher.submit(1);
    // Without the linger, the first would have gone alone by the next turn of the event loop.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const second = batcher.submit(2);
    await Promise.all([first, second]);
    expect(batches).toEqual([[1, 2]]);
  });
});
