import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configPath, resolveConnection, saveLogin } from './settings';

describe('where the CLI finds its server and key', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-cli-settings-'));
    env = { XDG_CONFIG_HOME: dir };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the flag, then the environment, then the saved login', () => {
    saveLogin(configPath(env), { url: 'https://saved.example.com', apiKey: 'crl_saved', caFile: null });
    expect(resolveConnection({}, env)).toEqual({ url: 'https://saved.example.com', apiKey: 'crl_saved', caFile: null });
    env = { ...env, CORRAL_URL: 'https://env.example.com/', CORRAL_API_KEY: ' crl_env\n', CORRAL_CA_FILE: '/etc/ssl/ca.pem' };
    expect(resolveConnection({}, env)).toEqual({ url: 'https://env.example.com', apiKey: 'crl_env', caFile: '/etc/ssl/ca.pem' });
    expect(resolveConnection({ url: 'http://flag.example.com:3000/corral' }, env).url).toBe('http://flag.example.com:3000/corral');
  });

  it('says what is missing or wrong', () => {
    expect(() => resolveConnection({}, env)).toThrow('no server: set CORRAL_URL');
    expect(() => resolveConnection({}, { ...env, CORRAL_URL: 'https://x.example.com' })).toThrow('no API key: set CORRAL_API_KEY');
    expect(() => resolveConnection({}, { ...env, CORRAL_URL: 'corral.example.com', CORRAL_API_KEY: 'k' })).toThrow('CORRAL_URL is not a URL: "corral.example.com"');
    expect(() => resolveConnection({ url: 'ftp://x' }, { ...env, CORRAL_API_KEY: 'k' })).toThrow('--url must be an http:// or https:// URL');
  });

  it('refuses a saved key others may read, as ssh does', () => {
    const path = configPath(env);
    saveLogin(path, { url: 'https://saved.example.com', apiKey: 'crl_saved' });
    chmodSync(path, 0o644);
    expect(() => resolveConnection({}, env)).toThrow(`chmod 600 ${path}`);
  });
});
