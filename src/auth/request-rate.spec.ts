import { RequestRate } from './request-rate';

describe('RequestRate', () => {
  let now: number;
  let rate: RequestRate;
  beforeEach(() => {
    now = 0;
    rate = new RequestRate(() => now);
  });

  it('allows a burst of two seconds worth, then refuses with the seconds to wait', () => {
    for (let i = 0; i < 20; i++) expect(rate.take('key', 10)).toBeNull();
    expect(rate.take('key', 10)).toBe(1);
    // Another caller has its own bucket.
    expect(rate.take('other', 10)).toBeNull();
  });

  it('refills at the rate', () => {
    for (let i = 0; i < 20; i++) rate.take('key', 10);
    now += 500;
    for (let i = 0; i < 5; i++) expect(rate.take('key', 10)).toBeNull();
    expect(rate.take('key', 10)).not.toBeNull();
  });

  it('says how long to wait at a slow rate', () => {
    rate.take('key', 1);
    rate.take('key', 1);
    expect(rate.take('key', 1)).toBe(1);
    expect(rate.take('slow', 0.25)).toBeNull();
    expect(rate.take('slow', 0.25)).toBe(4);
  });

  it('forgets callers whose bucket has refilled', () => {
    for (let i = 0; i < 100; i++) rate.take(`ip-${i}`, 10);
    expect(rate.size).toBe(100);
    now += 6_000;
    rate.take('late', 10);
    expect(rate.size).toBe(1);
  });
});
