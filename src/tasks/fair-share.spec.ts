import { FairShare, type FairShareOptions } from './fair-share';

const OPTIONS: FairShareOptions = { windowMs: 250, busyLoad: 0.5, minRatePerSecond: 50 };
const BUSY = 0.9;
const CALM = 0.1;

describe('FairShare', () => {
  let now: number;
  let shares: FairShare;
  beforeEach(() => {
    now = 0;
    shares = new FairShare(OPTIONS, () => now);
  });

  /** One window: each organisation is offered what it asks for (as far as its share lets it), then the window ends. */
  function window(asks: Record<string, number>, load: number): { given: Record<string, number>; goOn: string[] } {
    const given: Record<string, number> = {};
    for (const [org, n] of Object.entries(asks)) {
      given[org] = shares.take(org, n);
      shares.offeredTo(org, given[org]);
    }
    now += OPTIONS.windowMs;
    return { given, goOn: shares.tick(load) };
  }

  it('holds no one back on a calm node, or an organisation alone on a busy one', () => {
    for (let i = 0; i < 10; i++) expect(window({ flood: 1000, quiet: 5 }, CALM).given).toEqual({ flood: 1000, quiet: 5 });
    for (let i = 0; i < 10; i++) expect(window({ flood: 1000 }, BUSY).given).toEqual({ flood: 1000 });
    expect(shares.isHeld('flood')).toBe(false);
  });

  it('on a busy node, holds the organisation above its part to a shrinking rate, and never the quiet one', () => {
    window({ flood: 1000, quiet: 5 }, BUSY);
    expect(shares.isHeld('flood')).toBe(true);
    expect(shares.isHeld('quiet')).toBe(false);
    const given: number[] = [];
    for (let i = 0; i < 6; i++) {
      const w = window({ flood: 1000, quiet: 5 }, BUSY);
      expect(w.given.quiet).toBe(5);
      given.push(w.given.flood);
    }
    // 4,000 offers a second held to three quarters, then three quarters of that, window after window.
    expect(given[0]).toBe(750);
    for (let i = 1; i < given.length; i++) expect(given[i]).toBeLessThan(given[i - 1]);
    // Never below the floor.
    for (let i = 0; i < 40; i++) window({ flood: 1000, quiet: 5 }, BUSY);
    expect(window({ flood: 1000, quiet: 5 }, BUSY).given.flood).toBe(Math.floor((OPTIONS.minRatePerSecond * OPTIONS.windowMs) / 1000));
  });

  it('lets a held organisation grow back while the node is calm, and frees it once the hold stops binding', () => {
    window({ flood: 1000, quiet: 5 }, BUSY);
    for (let i = 0; i < 5; i++) window({ flood: 1000, quiet: 5 }, BUSY);
    const low = window({ flood: 1000, quiet: 5 }, CALM).given.flood;
    const higher = window({ flood: 1000, quiet: 5 }, CALM).given.flood;
    expect(higher).toBeGreaterThan(low);
    // It asks for little now: the hold ends.
    for (let i = 0; i < 3; i++) window({ flood: 1, quiet: 5 }, CALM);
    expect(shares.isHeld('flood')).toBe(false);
  });

  it('says which held organisations may go on, including one that is no longer held', () => {
    const first = window({ flood: 1000, quiet: 5 }, BUSY);
    expect(first.goOn).toEqual([]);
    // Held: it may go on as its tokens come back each window.
    expect(window({ flood: 1000, quiet: 5 }, BUSY).goOn).toEqual(['flood']);
    // The quiet organisation stops: the flood is alone and freed.
    const alone = window({ flood: 1000 }, BUSY);
    expect(alone.goOn).toEqual(['flood']);
    expect(shares.isHeld('flood')).toBe(false);
  });

  it('gives back what a claim took and did not use', () => {
    window({ flood: 1000, quiet: 5 }, BUSY);
    now += OPTIONS.windowMs;
    const took = shares.take('flood', 1000);
    expect(took).toBeGreaterThan(0);
    expect(shares.take('flood', 1000)).toBe(0);
    shares.giveBack('flood', took);
    expect(shares.take('flood', 1000)).toBe(took);
  });
});
