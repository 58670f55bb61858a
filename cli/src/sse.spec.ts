import { parseSse, type SseEvent } from './sse';

describe('parseSse', () => {
  it('yields each event whole, however the stream is split, and drops comments', () => {
    const text = ': keepalive\n\nevent: log\ndata: {"a":1}\n\nevent: end\r\ndata: {"state":"succeeded"}\r\n\r\ndata: one\ndata: two\n\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const events: SseEvent[] = [];
      const feed = parseSse((e) => events.push(e));
      for (let i = 0; i < text.length; i += size) feed(text.slice(i, i + size));
      expect(events).toEqual([
        { event: 'log', data: '{"a":1}' },
        { event: 'end', data: '{"state":"succeeded"}' },
        { event: 'message', data: 'one\ntwo' },
      ]);
    }
  });

  it('keeps an unfinished event until its blank line arrives', () => {
    const events: SseEvent[] = [];
    const feed = parseSse((e) => events.push(e));
    feed('event: log\ndata: x\n');
    expect(events).toEqual([]);
    feed('\n');
    expect(events).toEqual([{ event: 'log', data: 'x' }]);
  });
});
