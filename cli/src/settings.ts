import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './args';

/** Where `corral login` keeps the server and key: 0600, like an SSH key. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CORRAL_CONFIG) return resolve(env.CORRAL_CONFIG);
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'corral', 'config.json');
}

export interface SavedLogin {
  url: string;
  apiKey: string;
  caFile?: string | null;
}

export interface Connection {
  url: string;
  apiKey: string;
  caFile: string | null;
}

export function readLogin(path: string): SavedLogin | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (process.platform !== 'win32' && statSync(path).mode & 0o077) throw new UsageError(`${path} holds an API key but others may read it: chmod 600 ${path}`);
  try {
    const saved = JSON.parse(text) as SavedLogin;
    if (typeof saved.url === 'string' && typeof saved.apiKey === 'string') return saved;
  } catch {
    // fall through
  }
  throw new UsageError(`${path} is not a login this CLI wrote: run corral login again, or remove it`);
}

export function saveLogin(path: string, login: SavedLogin) {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** A URL the API can be called at: http(s), no query; the trailing slash dropped. */
export function checkUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${source} is not a URL: "${url}" (e.g. https://corral.example.com)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`${source} must be an http:// or https:// URL, not "${url}"`);
  if (parsed.search || parsed.hash) throw new UsageError(`${source} must not carry a query or fragment: "${url}"`);
  return url.replace(/\/+$/, '');
}

/**
 * Flags, then the environment (what a CI secret sets), then the saved login. The key is never a
 * flag: a command line is visible to every user of the machine.
 */
export function resolveConnection(flags: { url?: string; caFile?: string }, env: NodeJS.ProcessEnv = process.env): Connection {
  const saved = readLogin(configPath(env));
  const url = flags.url ?? env.CORRAL_URL ?? saved?.url;
  const apiKey = env.CORRAL_API_KEY ?? saved?.apiKey;
  if (!url) throw new UsageError('no server: set CORRAL_URL (e.g. https://corral.example.com) or run corral login');
  if (!apiKey) throw new UsageError('no API key: set CORRAL_API_KEY (create one in the console under API keys) or run corral login');
  const source = flags.url ? '--url' : env.CORRAL_URL ? 'CORRAL_URL' : configPath(env);
  const caFile = flags.caFile ?? env.CORRAL_CA_FILE ?? saved?.caFile ?? null;
  return { url: checkUrl(url, source), apiKey: apiKey.trim(), caFile: caFile ? resolve(caFile) : null };
}
