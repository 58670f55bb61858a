import { DEADLOCK_DETECTED, retryOnDeadlock, sqlErrorCode } from '../../src/database/sql';
import { makeApprovedAgent, makeOrganization, makeTask, type Medium, openMedium } from '../helpers/medium';

/** Resolves once `n` parties have arrived. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived === n) open();
    return opened;
  };
}

// retryOnDeadlock (src/database/sql.ts) against a deadlock PostgreSQL really detects: two
// transactions lock the same two rows in opposite orders.
describe('retryOnDeadlock', () => {
  let m: Medium;
  let rows: [string, string];

  beforeAll(async () => {
    m = await openMedium();
    const org = await makeOrganization(m);
    const agent = await makeApprovedAgent(m, org);
    rows = [(await makeTask(m, org, [agent])).id, (await makeTask(m, org, [agent])).id];
  });
  afterAll(() => m?.close());

  /**
   * A transaction that locks `first`, waits (on its first attempt) until the other holds its own
   * first row, then locks `second` and marks `first` with `mark`: two of them in opposite orders deadlock.
   */
  function crossing(first: string, second: string, mark: string, meet: () => Promise<void>, attempts: { n: number }) {
    return () =>
      m.dataSource.transaction(async (em) => {
        attempts.n++;
        await em.query(`SELECT id FROM tasks WHERE id = $1 FOR UPDATE`, [first]);
        if (attempts.n === 1) await meet();
        await em.query(`SELECT id FROM tasks WHERE id = $1 FOR UPDATE`, [second]);
        await em.query(`UPDATE tasks SET name = name || $2 WHERE id = $1`, [first, mark]);
        return attempts.n;
      });
  }

  async function names(): Promise<string[]> {
    const found = await m.dataSource.query<{ id: string; name: string }[]>(`SELECT id, name FROM tasks WHERE id = ANY($1::uuid[])`, [rows]);
    return rows.map((id) => found.find((r) => r.id === id)!.name);
  }

  it('deadlocks for real without it: PostgreSQL aborts one of the two', async () => {
    const before = await names();
    const meet = barrier(2);
    const results = await Promise.allSettled([crossing(rows[0], rows[1], '+x', meet, { n: 0 })(), crossing(rows[1], rows[0], '+y', meet, { n: 0 })()]);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(sqlErrorCode((failed[0] as PromiseRejectedResult).reason)).toBe(DEADLOCK_DETECTED);
    const after = await names();
    // Exactly one mark landed, the survivor's.
    expect(after.filter((name, i) => name !== before[i])).toHaveLength(1);
  });

  it('runs the aborted transaction again, and both commit once each', async () => {
    const before = await names();
    const meet = barrier(2);
    const x = { n: 0 };
    const y = { n: 0 };
    const [ranX, ranY] = await Promise.all([retryOnDeadlock(crossing(rows[0], rows[1], '+x', meet, x)), retryOnDeadlock(crossing(rows[1], rows[0], '+y', meet, y))]);
    expect([ranX, ranY].sort()).toEqual([1, 2]); // one went through at once, the other on its second attempt
    expect(await names()).toEqual([`${before[0]}+x`, `${before[1]}+y`]);
  });

  it('does not retry other errors, and gives up after its attempts', async () => {
    let calls = 0;
    const conflict = Object.assign(new Error('duplicate key'), { code: '23505' });
    await expect(
      retryOnDeadlock(async () => {
        calls++;
        throw conflict;
      }),
    ).rejects.toBe(conflict);
    expect(calls).toBe(1);

    calls = 0;
    const deadlock = Object.assign(new Error('deadlock detected'), { driverError: { code: DEADLOCK_DETECTED } });
    await expect(
      retryOnDeadlock(async () => {
        calls++;
        throw deadlock;
      }, 3),
    ).rejects.toBe(deadlock);
    expect(calls).toBe(3);
  });
});
