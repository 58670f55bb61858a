import { distance, Flags, parseArgs, UsageError } from './args';

const SPECS = { to: { value: true }, wait: {}, variable: { value: true, repeat: true }, timeout: { value: true } };

describe('parseArgs', () => {
  it('reads words, values in both spellings, switches, repeats and what follows --', () => {
    const p = parseArgs(['web', '--to', 'Prod', '--wait', '--variable=A=1', '--variable', 'B=2', '--', '--to', 'x'], SPECS);
    expect(p).toEqual({ words: ['web'], flags: { to: 'Prod', wait: true, variable: ['A=1', 'B=2'] }, rest: ['--to', 'x'] });
  });

  it('refuses what would silently change a pipeline’s meaning', () => {
    expect(() => parseArgs(['--wiat'], SPECS)).toThrow('unknown option --wiat (did you mean --wait?)');
    expect(() => parseArgs(['-o', 'json'], SPECS)).toThrow('options are spelt out');
    expect(() => parseArgs(['--to'], SPECS)).toThrow('--to needs a value');
    expect(() => parseArgs(['--to', 'a', '--to', 'b'], SPECS)).toThrow('--to is given twice');
    expect(() => parseArgs(['--wait=yes'], SPECS)).toThrow('--wait takes no value');
    expect(() => parseArgs(['--to', '--'], SPECS)).toThrow(UsageError);
  });
});

describe('Flags', () => {
  const flags = (...argv: string[]) => new Flags(parseArgs(argv, SPECS));

  it('reads typed values and says which flag is wrong', () => {
    expect(flags('--timeout', '30').integer('timeout', 1, 60)).toBe(30);
    expect(() => flags('--timeout', '30s').integer('timeout', 1, 60)).toThrow('--timeout must be a whole number from 1 to 60, not "30s"');
    expect(() => flags().required('to', 'Production')).toThrow('--to is required (e.g. --to Production)');
    expect(() => flags('--to', ' ').string('to')).toThrow('--to must not be empty');
  });

  it('reads NAME=VALUE pairs, keeping "=" inside values', () => {
    expect(flags('--variable', 'Url=http://x/?a=b', '--variable', 'Empty=').pairs('variable')).toEqual({ Url: 'http://x/?a=b', Empty: '' });
    expect(() => flags('--variable', 'novalue').pairs('variable')).toThrow('--variable takes NAME=VALUE, not "novalue"');
    expect(() => flags('--variable', 'A=1', '--variable', 'A=2').pairs('variable')).toThrow('--variable A is given twice');
  });
});

it('distance counts single-character edits', () => {
  expect(distance('wait', 'wiat')).toBe(2);
  expect(distance('', 'abc')).toBe(3);
  expect(distance('project', 'project')).toBe(0);
});
