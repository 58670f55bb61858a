import { Backoff, sleep } from './backoff';

describe('Backoff', () => {
  const options = { baseMs: 1_000, capMs: 60_000 };

  it('jitters the first attempt too: anywhere in [0, base)', () => {
    expect(new Backoff(options, () => 0).next()).toBe(0);
    expect(new Backoff(options, () => 0.999).next()).toBe(999);
    expect(new Backoff(options, () => 0.5).next()).toBe(500);
  });

  it('doubles the ceiling each attempt and stays inside [0, ceiling)', () => {
    const backoff = new Backoff(options, () => 0.999_999);
    const delays = Array.from({ length: 6 }, () => backoff.next());
    expect(delays).toEqual([999, 1_999, 3_999, 7_999, 15_999, 31_999]);
  });

  it('never exceeds the cap however many attempts fail', () => {
    const backoff = new Backoff(options, () => 0.999_999);
    const delays = Array.from({ length: 50 }, () => backoff.next());
    expect(Math.max(...delays)).toBeLessThan(60_000);
    expect(delays.at(-1)).toBe(59_999);
    expect(backoff.ceiling()).toBe(60_000);
  });

  it('spreads delays over the whole range with a real random source', () => {
    const backoff = new Backoff({ baseMs: 1_000, capMs: 1_000 });
    const delays = Array.from({ length: 2_000 }, () => backoff.next());
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(1_000);
    expect(delays.filter((d) => d < 500).length).toBeGreaterThan(800);
    expect(delays.filter((d) => d >= 500).length).toBeGreaterThan(800);
  });

  it('starts over from base after reset', () => {
    const backoff = new Backoff(options, () => 0.999_999);
    backoff.next();
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(999);
  });

  it('waits Retry-After plus at most a second of jitter, however long it has been failing', () => {
    const backoff = new Backoff(options, () => 0.5);
    expect(backoff.next(30_000)).toBe(30_500);
    expect(new Backoff(options, () => 0).next(30_000)).toBe(30_000);
    expect(new Backoff(options, () => 0.999).next(0)).toBe(999);
    const failing = new Backoff(options, () => 0.999_999);
    for (let i = 0; i < 10; i++) failing.next();
    expect(failing.next(5_000)).toBe(5_999);
  });

  it('does not back off further while the server paces it with Retry-After', () => {
    const backoff = new Backoff(options, () => 0.999_999);
    for (let i = 0; i < 5; i++) backoff.next(2_000);
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(999);
  });
});

describe('sleep', () => {
  it('ends at once when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = sleep(60_000, controller.signal);
    controller.abort();
    await pending;
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
