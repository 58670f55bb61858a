import { Admission } from './admission';

describe('Admission', () => {
  it('admits up to its rate at once, then tells each agent a later second, no second promised to more than the rate', () => {
    let now = 1_000_000;
    const admission = new Admission(10, () => now);
    const answers = Array.from({ length: 60 }, () => admission.admit());
    expect(answers.slice(0, 10)).toEqual(Array(10).fill(null));
    const waits = answers.slice(10) as number[];
    expect(waits.every((w) => Number.isInteger(w) && w >= 1)).toBe(true);
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    const perSecond = new Map<number, number>();
    for (const w of waits) perSecond.set(w, (perSecond.get(w) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(10);
    expect(Math.max(...waits)).toBe(5);
    now += 1000;
    expect(admission.admit()).toBeNull(); // the bucket refills at the rate
  });

  it('does not let refusals pile up: once the crowd is gone, a newcomer waits no longer than the bucket needs', () => {
    let now = 0;
    const admission = new Admission(100, () => now);
    for (let i = 0; i < 1000; i++) admission.admit();
    now += 60_000;
    expect(admission.admit()).toBeNull();
    for (let i = 0; i < 99; i++) admission.admit();
    expect(admission.admit()).toBe(1);
  });

  it('spreads a leaving crowd over the seconds the node needs to admit it, and at least a second', () => {
    const admission = new Admission(1000);
    expect(admission.spreadMs(10_000)).toBe(10_000);
    expect(admission.spreadMs(3)).toBe(1000);
  });
});
