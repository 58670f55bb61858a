import { messagesOf, packFrames } from './frames';

describe('frames', () => {
  const json = (n: number, size = 10) => JSON.stringify({ n, pad: 'x'.repeat(size) });

  it('sends one message as itself and several as one array, in order', () => {
    expect(packFrames([json(1)])).toEqual([json(1)]);
    const [frame] = packFrames([json(1), json(2), json(3)]);
    expect(JSON.parse(frame)).toEqual([1, 2, 3].map((n) => JSON.parse(json(n))));
  });

  it('starts a new frame before one would grow past the limit, and lets a message larger than it go alone', () => {
    const frames = packFrames([json(1, 40), json(2, 40), json(3, 300), json(4, 40)], 120);
    expect(frames.map((f) => messagesOf(JSON.parse(f)).map((m) => (m as { n: number }).n))).toEqual([[1, 2], [3], [4]]);
    for (const f of frames) if (messagesOf(JSON.parse(f)).length > 1) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(120);
  });

  it('reads either form back as a list', () => {
    expect(messagesOf({ a: 1 })).toEqual([{ a: 1 }]);
    expect(messagesOf([{ a: 1 }, { b: 2 }])).toEqual([{ a: 1 }, { b: 2 }]);
    expect(packFrames([])).toEqual([]);
  });
});
