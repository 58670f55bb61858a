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

  it('is documented in the README, one row per variable with its default', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const v of VARIABLES) {
      expect(readme).toContain(`| \`${v.env}\` | ${v.default === undefined ? '—' : `\`${v.default}\``} |`);
    }
  });
});
