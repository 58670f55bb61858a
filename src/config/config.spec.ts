import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, readConfig, redactUrl, VARIABLES } from './config';

describe('readConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = readConfig({});
    expect(config).toMatchObject({ port: 3000, host: '0.0.0.0', publicUrl: 'http://localhost:3000', databaseUrl: undefined, databasePoolSize: 10, logLevel: 'info' });
    expect(config.dataDir).toBe(join(process.cwd(), '.corral'));
  });

  it('derives the public URL from the port and strips a trailing slash', () => {
    expect(readConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
    expect(readConfig({ CORRAL_PUBLIC_URL: 'https://corral.example.com/' }).publicUrl).toBe('https://corral.example.com');
  });

  it('lists every bad variable at once', () => {
    let error: ConfigError | undefined;
    try {
      readConfig({ PORT: '70000', LOG_LEVEL: 'verbose', TRUST_PROXY: 'maybe', CORRAL_PUBLIC_URL: 'ftp://x' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.split(':')[0])).toEqual(['PORT', 'CORRAL_PUBLIC_URL', 'LOG_LEVEL', 'TRUST_PROXY']);
  });

  it('never echoes a database password in an error', () => {
    expect(() => readConfig({ DATABASE_URL: 'mysql://u:hunter2@db/x' })).toThrow(ConfigError);
    expect(redactUrl('postgres://corral:hunter2@127.0.0.1:5432/corral')).toBe('postgres://corral:***@127.0.0.1:5432/corral');
  });

  it('reads CORRAL_SECRETS_KEY as 32 bytes of base64, saying how to make one and never echoing it', () => {
    const key = Buffer.alloc(32, 7);
    expect(readConfig({ CORRAL_SECRETS_KEY: key.toString('base64') }).secretsKey).toEqual(key);
    expect(readConfig({}).secretsKey).toBeUndefined();
    for (const bad of ['hunter2-not-a-key', Buffer.alloc(16, 7).toString('base64'), `${key.toString('base64')}!`]) {
      let error: ConfigError | undefined;
      try {
        readConfig({ CORRAL_SECRETS_KEY: bad });
      } catch (err) {
        error = err as ConfigError;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error!.problems).toEqual([expect.stringMatching(/^CORRAL_SECRETS_KEY: must be 32 random bytes in base64 .*openssl rand -base64 32/)]);
      expect(error!.message).not.toContain(bad);
    }
  });

  it('takes TRUST_PROXY as a number of proxies or their addresses, never as "trust everyone"', () => {
    expect(readConfig({}).trustProxy).toBe(false);
    expect(readConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(readConfig({ TRUST_PROXY: 'loopback, 10.1.0.0/16,fd00::1' }).trustProxy).toEqual(['loopback', '10.1.0.0/16', 'fd00::1']);
    for (const [raw, message] of [
      ['true', 'would trust an X-Forwarded-For any client sends'],
      ['10.0.0', 'is neither'],
      ['10.0.0.0/33', 'is neither'],
      ['20', 'must be between 1 and 10'],
    ]) {
      let error: ConfigError | undefined;
      try {
        readConfig({ TRUST_PROXY: raw });
      } catch (err) {
        error = err as ConfigError;
      }
      expect(error?.problems.join()).toContain(message);
    }
  });

  it('is documented in the README, one row per variable with its default', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const v of VARIABLES) {
      expect(readme).toContain(`| \`${v.env}\` | ${v.default === undefined ? '—' : `\`${v.default}\``} |`);
    }
  });
});
