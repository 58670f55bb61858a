import { helpText, parseCommandLine, UsageError } from './cli';

describe('command line', () => {
  it('parses a command with its options, in both spellings', () => {
    expect(parseCommandLine(['enroll', '--server', 'https://a', '--server=https://b', '--token', 't', '--name=web-01', '--json'])).toEqual({
      kind: 'command',
      command: 'enroll',
      flags: { server: ['https://a', 'https://b'], token: 't', name: 'web-01', json: true },
    });
    expect(parseCommandLine(['run', '--transport', 'poll', '--state-dir', '/s'])).toEqual({ kind: 'command', command: 'run', flags: { transport: 'poll', stateDir: '/s' } });
    expect(parseCommandLine(['run', '--max-jobs', '4'])).toEqual({ kind: 'command', command: 'run', flags: { maxJobs: '4' } });
    for (const command of ['enroll', 'run', 'status', 'doctor']) expect(parseCommandLine([command, '--log-format', 'json'])).toEqual({ kind: 'command', command, flags: { logFormat: 'json' } });
  });

  it('answers help and version', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', topic: null });
    expect(parseCommandLine(['help', 'run'])).toEqual({ kind: 'help', topic: 'run' });
    expect(parseCommandLine(['enroll', '-h'])).toEqual({ kind: 'help', topic: 'enroll' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    expect(helpText(null)).toContain('corral-agent enroll --server URL --token TOKEN');
    expect(helpText('run')).toContain('--transport auto|ws|poll');
    expect(helpText('run')).toContain('--max-jobs N       CORRAL_MAX_JOBS');
    expect(helpText('status')).toContain('--log-format FORMAT  CORRAL_LOG_FORMAT');
  });

  it.each([
    [[], 'no command given'],
    [['launch'], 'unknown command "launch"'],
    [['--server', 'x', 'run'], 'expected a command before --server'],
    [['run', '--token', 't'], 'unknown option --token for "run"'],
    [['enroll', '--max-jobs', '2'], 'unknown option --max-jobs for "enroll"'],
    [['status', '--frobnicate'], 'unknown option --frobnicate for "status"'],
    [['enroll', '--server'], '--server needs a value'],
    [['enroll', '--server', '--json'], '--server needs a value'],
    [['enroll', '--json=yes'], '--json takes no value'],
    [['run', '--log-format'], '--log-format needs a value'],
    [['enroll', '--name', 'a', '--name', 'b'], '--name given twice'],
    [['run', 'now'], 'unexpected argument "now"'],
    [['help', 'launch'], 'unknown command "launch"'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});
