import { formatLogLine, LineLogger } from './log';

describe('log lines', () => {
  const at = new Date('2026-11-22T05:00:00.123Z');

  it('writes text as "<time> <level> <message>", to the second', () => {
    expect(formatLogLine('text', 'warn', 'cannot connect', at)).toBe('2026-11-22T05:00:00Z warn cannot connect\n');
  });

  it('writes JSON as one {time, level, msg} object a line, to the millisecond, whatever the message holds', () => {
    const line = formatLogLine('json', 'error', 'two\nlines and "quotes"', at);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(Object.entries(JSON.parse(line))).toEqual([
      ['time', '2026-11-22T05:00:00.123Z'],
      ['level', 'error'],
      ['msg', 'two\nlines and "quotes"'],
    ]);
  });

  it('keeps to its level in either format', () => {
    const lines: string[] = [];
    const logger = new LineLogger({ write: (s: string) => lines.push(s) }, 'info', () => at, 'json');
    logger.debug('hidden');
    logger.info('shown');
    expect(lines.map((l) => JSON.parse(l))).toEqual([{ time: '2026-11-22T05:00:00.123Z', level: 'info', msg: 'shown' }]);
  });
});
