import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type CorralConfig, MAKE_SECRETS_KEY, secretsKey } from '../config/config';
import { gcmOpen, gcmSeal } from './secrets-cipher';
import { SecretsErrorCode, SecretsException } from './secrets.exception';

/** Where the embedded default keeps its master key, under CORRAL_DATA_DIR. */
export const KEY_FILE = 'secrets.key';

/**
 * The master key: CORRAL_SECRETS_KEY; else, on the embedded PostgreSQL, the key file under
 * CORRAL_DATA_DIR (made once, 0600). With DATABASE_URL and no key there is none: a ConfigError,
 * since nodes of one cluster must share the key and a key made up by one of them would not be.
 */
export function loadMasterKey(config: Pick<CorralConfig, 'secretsKey' | 'databaseUrl' | 'dataDir'>): Buffer {
  if (config.secretsKey) return config.secretsKey;
  if (config.databaseUrl) {
    throw new ConfigError([
      `CORRAL_SECRETS_KEY: must be set with DATABASE_URL (every node of the cluster needs the same key); ${MAKE_SECRETS_KEY}, set it on every node and keep a copy: sensitive values cannot be read without it`,
    ]);
  }
  return keyFile(join(config.dataDir, KEY_FILE));
}

function readKeyFile(file: string): Buffer {
  const text = readFileSync(file, 'utf8');
  try {
    return secretsKey(text);
  } catch {
    throw new Error(`${file} does not hold a 32-byte base64 key: restore it from a backup (the sensitive values stored cannot be read without it)`);
  }
}

// Written to a temporary file, then linked into place: two processes starting together agree on
// one key (link fails for the second), and nobody ever reads a half-written file.
function keyFile(file: string): Buffer {
  try {
    return readKeyFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(join(file, '..'), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  return readKeyFile(file);
}

/** A data key sealed with the master key, bound to its id. */
export function wrapDataKey(master: Buffer, keyId: string, dataKey: Buffer): string {
  return `w1.${gcmSeal(master, dataKey, `secret-key:${keyId}`).toString('base64url')}`;
}

export function unwrapDataKey(master: Buffer, keyId: string, wrapped: string): Buffer {
  const key = wrapped.startsWith('w1.') ? gcmOpen(master, Buffer.from(wrapped.slice(3), 'base64url'), `secret-key:${keyId}`) : null;
  if (!key || key.length !== 32)
    throw new SecretsException(
      SecretsErrorCode.SECRETS_KEY_MISMATCH,
      `CORRAL_SECRETS_KEY does not open secret key "${keyId}" of this database: it is not the master key this cluster's values were sealed with (or the key file under CORRAL_DATA_DIR was replaced)`,
    );
  return key;
}

export interface DataKeyRow {
  id: string;
  wrappedKey: string;
  createdAt: Date;
  retiredAt: Date | null;
}

/** Every data key, opened with the master key, and the one to seal with: the newest unretired one. */
export function openDataKeys(master: Buffer, rows: readonly DataKeyRow[], known: ReadonlyMap<string, Buffer> = new Map()): { keys: Map<string, Buffer>; sealing: string } {
  const keys = new Map(rows.map((r) => [r.id, known.get(r.id) ?? unwrapDataKey(master, r.id, r.wrappedKey)]));
  const sealing = newestUnretired(rows);
  if (!sealing) throw new SecretsException(SecretsErrorCode.SECRET_KEYS_NOT_LOADED, 'secret_keys has no unretired key to seal with');
  return { keys, sealing };
}

/** The key new values are sealed with. */
export function newestUnretired(rows: readonly DataKeyRow[]): string | undefined {
  return rows
    .filter((r) => !r.retiredAt)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || keyNumber(a.id) - keyNumber(b.id))
    .at(-1)?.id;
}

/** Data keys are k1, k2, …: the number of one, 0 for another name. */
export function keyNumber(keyId: string): number {
  return Number(/^k(\d+)$/.exec(keyId)?.[1] ?? 0);
}
