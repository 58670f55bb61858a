import { Writable } from 'node:stream';
import { CorralLogger } from './logger';
import { requestContext } from './request-context';

function capture() {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  return {
    stream,
    lines: () =>
      out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

describe('CorralLogger', () => {
  it('writes one JSON object per line with the request id of the current request', () => {
    const sink = capture();
    const logger = new CorralLogger('info', 'json', sink.stream);
    requestContext.run({ requestId: 'req-1' }, () => logger.event('info', 'hello', { n: 1 }));
    expect(sink.lines()).toEqual([expect.objectContaining({ level: 'info', msg: 'hello', requestId: 'req-1', n: 1 })]);
  });

  it('names the organisation of an authenticated request on each of its lines', () => {
    const sink = capture();
    const logger = new CorralLogger('info', 'json', sink.stream);
    requestContext.run({ requestId: 'req-2' }, () => {
      logger.event('info', 'before the guard');
      requestContext.getStore()!.organizationId = 'org-1';
      logger.event('info', 'after it');
    });
    expect(sink.lines().map((l) => [l.msg, l.organizationId])).toEqual([
      ['before the guard', undefined],
      ['after it', 'org-1'],
    ]);
  });

  it('redacts secret-looking fields wherever they are', () => {
    const sink = capture();
    new CorralLogger('info', 'json', sink.stream).event('info', 'x', { password: 'p', nested: { apiKey: 'k', token: 't' }, ok: 'v' });
    expect(sink.lines()[0]).toMatchObject({ password: '[redacted]', nested: { apiKey: '[redacted]', token: '[redacted]' }, ok: 'v' });
  });

  it('drops lines below the level and demotes framework start-up chatter', () => {
    const sink = capture();
    const logger = new CorralLogger('info', 'json', sink.stream);
    logger.debug('hidden');
    logger.log('Mapped {/x, GET} route', 'RouterExplorer');
    logger.log('kept', 'Mine');
    expect(sink.lines().map((l) => l.msg)).toEqual(['kept']);
  });
});
