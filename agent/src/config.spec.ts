import { join } from 'node:path';
import { ConfigError } from './errors';
import { parseMaxJobs, parseServerList, resolveLogFormat, resolveSettings, type ConfigFile, type ResolveInput } from './config';

function input(partial: Partial<ResolveInput> & { file?: ConfigFile | null } = {}): ResolveInput {
  const { file = null, ...rest } = partial;
  return { flags: {}, env: {}, isRoot: false, home: '/home/ops', cwd: '/work', readConfig: () => file, ...rest };
}

describe('settings precedence', () => {
  const file: ConfigFile = { server: 'https://from-file.example.com', token: 'file-token', name: 'file-name', transport: 'poll', caFile: 'ca.pem' };
  const env = { CORRAL_SERVER: 'https://from-env.example.com', CORRAL_TOKEN: 'env-token', CORRAL_NAME: 'env-name', CORRAL_TRANSPORT: 'ws', CORRAL_CA_FILE: '/etc/ssl/env.pem' };
  const flags = { server: ['https://from-flag.example.com'], token: 'flag-token', name: 'flag-name', transport: 'auto', caFile: 'flag.pem' };

  it('takes flags over environment over agent.json', () => {
    const settings = resolveSettings(input({ flags, env, file }));
    expect(settings).toMatchObject({ servers: ['https://from-flag.example.com'], token: 'flag-token', name: 'flag-name', transport: 'auto', caFile: '/work/flag.pem' });
    expect(settings.sources).toMatchObject({ servers: 'flag', token: 'flag', name: 'flag', transport: 'flag', caFile: 'flag' });
  });

  it('takes environment over agent.json', () => {
    const settings = resolveSettings(input({ env, file }));
    expect(settings).toMatchObject({ servers: ['https://from-env.example.com'], token: 'env-token', name: 'env-name', transport: 'ws', caFile: '/etc/ssl/env.pem' });
    expect(settings.sources.servers).toBe('env');
  });

  it('falls back to agent.json, resolving its relative CA path against the state dir', () => {
    const settings = resolveSettings(input({ file }));
    expect(settings).toMatchObject({ servers: ['https://from-file.example.com'], token: 'file-token', transport: 'poll', caFile: '/home/ops/.corral-agent/ca.pem' });
    expect(settings.sources.servers).toBe('config');
  });

  it('falls back to the defaults', () => {
    expect(resolveSettings(input())).toMatchObject({ stateDir: '/home/ops/.corral-agent', servers: [], token: null, name: null, transport: 'auto', caFile: null });
    expect(resolveSettings(input({ isRoot: true })).stateDir).toBe('/var/lib/corral-agent');
  });

  it('reads agent.json from the state dir chosen by flag or env', () => {
    const read: string[] = [];
    const readConfig = (path: string) => (read.push(path), null);
    resolveSettings({ ...input(), flags: { stateDir: 'state' }, env: { CORRAL_STATE_DIR: '/env/state' }, readConfig });
    resolveSettings({ ...input(), env: { CORRAL_STATE_DIR: '/env/state' }, readConfig });
    expect(read).toEqual([join('/work/state', 'agent.json'), '/env/state/agent.json']);
  });

  it('ignores empty values, so CORRAL_TOKEN= does not hide agent.json', () => {
    expect(resolveSettings(input({ env: { CORRAL_TOKEN: '  ' }, file })).token).toBe('file-token');
  });

  it('accepts several servers: repeated flags, commas, arrays; drops duplicates and trailing slashes', () => {
    expect(resolveSettings(input({ flags: { server: ['https://a.example.com/', 'https://b.example.com,https://a.example.com'] } })).servers).toEqual([
      'https://a.example.com',
      'https://b.example.com',
    ]);
    expect(resolveSettings(input({ env: { CORRAL_SERVER: 'https://a.example.com, https://b.example.com:8443' } })).servers).toEqual(['https://a.example.com', 'https://b.example.com:8443']);
    expect(resolveSettings(input({ file: { server: ['https://a.example.com', 'https://c.example.com/corral/'] } })).servers).toEqual(['https://a.example.com', 'https://c.example.com/corral']);
  });

  it.each([
    [['corral.example.com'], 'is not a URL'],
    [['ftp://corral.example.com'], 'must start with https://'],
    [['https://user:pw@corral.example.com'], 'must not carry credentials'],
    [['https://corral.example.com/?x=1'], 'must not have a query'],
  ])('refuses server %j', (values, message) => {
    expect(() => parseServerList(values, '--server')).toThrow(ConfigError);
    expect(() => parseServerList(values, '--server')).toThrow(message);
  });

  it('refuses an unknown transport, naming where it came from', () => {
    expect(() => resolveSettings(input({ env: { CORRAL_TRANSPORT: 'carrier-pigeon' } }))).toThrow('CORRAL_TRANSPORT: transport must be auto, ws or poll');
    expect(resolveSettings(input({ flags: { transport: 'websocket' } })).transport).toBe('ws');
    expect(resolveSettings(input({ flags: { transport: 'long-poll' } })).transport).toBe('poll');
  });
});

describe('--max-jobs', () => {
  it('defaults to 1 and follows flag, environment, agent.json', () => {
    expect(resolveSettings(input())).toMatchObject({ maxJobs: 1, sources: { maxJobs: 'default' } });
    expect(resolveSettings(input({ file: { maxJobs: 4 } }))).toMatchObject({ maxJobs: 4, sources: { maxJobs: 'config' } });
    expect(resolveSettings(input({ env: { CORRAL_MAX_JOBS: '8' }, file: { maxJobs: 4 } }))).toMatchObject({ maxJobs: 8, sources: { maxJobs: 'env' } });
    expect(resolveSettings(input({ flags: { maxJobs: '64' }, env: { CORRAL_MAX_JOBS: '8' } }))).toMatchObject({ maxJobs: 64, sources: { maxJobs: 'flag' } });
  });

  it.each(['0', '65', '2.5', 'two', '-1'])('refuses %s, naming where it came from', (value) => {
    expect(() => resolveSettings(input({ flags: { maxJobs: value } }))).toThrow(`--max-jobs: max jobs must be a whole number from 1 to 64 (got "${value}")`);
    expect(() => parseMaxJobs(value, 'CORRAL_MAX_JOBS')).toThrow(ConfigError);
  });
});

describe('log format', () => {
  it('takes the flag over CORRAL_LOG_FORMAT over text, in any letter case', () => {
    expect(resolveLogFormat(undefined, {})).toBe('text');
    expect(resolveLogFormat(undefined, { CORRAL_LOG_FORMAT: ' JSON ' })).toBe('json');
    expect(resolveLogFormat('text', { CORRAL_LOG_FORMAT: 'json' })).toBe('text');
    expect(resolveLogFormat('', { CORRAL_LOG_FORMAT: 'json' })).toBe('json');
  });

  it('refuses a format it does not know, naming where it came from', () => {
    expect(() => resolveLogFormat('logfmt', {})).toThrow(new ConfigError('--log-format: the log format must be text or json (got "logfmt")'));
    expect(() => resolveLogFormat(undefined, { CORRAL_LOG_FORMAT: 'yaml' })).toThrow('CORRAL_LOG_FORMAT: the log format must be text or json (got "yaml")');
  });
});
