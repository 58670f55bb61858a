import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config/config';
import { loadMasterKey, newestUnretired, openDataKeys, unwrapDataKey, wrapDataKey } from './master-key';
import { SecretsErrorCode } from './secrets.exception';

describe('the master key', () => {
  it('is CORRAL_SECRETS_KEY when set, whatever the database', () => {
    const key = randomBytes(32);
    expect(loadMasterKey({ secretsKey: key, databaseUrl: 'postgres://db/corral', dataDir: '/nonexistent' })).toBe(key);
  });

  it('is required with DATABASE_URL, with a message saying how to make one', () => {
    let error: unknown;
    try {
      loadMasterKey({ secretsKey: undefined, databaseUrl: 'postgres://db/corral', dataDir: '/nonexistent' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^CORRAL_SECRETS_KEY: must be set with DATABASE_URL .*openssl rand -base64 32.*randomBytes\(32\)/)]);
  });

  it('wraps data keys, each bound to its id, and opens them only with the same master key', () => {
    const master = randomBytes(32);
    const dataKey = randomBytes(32);
    const wrapped = wrapDataKey(master, 'k1', dataKey);
    expect(unwrapDataKey(master, 'k1', wrapped).equals(dataKey)).toBe(true);
    expect(() => unwrapDataKey(randomBytes(32), 'k1', wrapped)).toThrow(expect.objectContaining({ code: SecretsErrorCode.SECRETS_KEY_MISMATCH }));
    expect(() => unwrapDataKey(master, 'k2', wrapped)).toThrow(/does not open secret key "k2"/);
  });

  it('seals with the newest unretired data key and opens with every one', () => {
    const master = randomBytes(32);
    const row = (id: string, at: number, retired = false) => ({ id, wrappedKey: wrapDataKey(master, id, randomBytes(32)), createdAt: new Date(at), retiredAt: retired ? new Date(at + 1) : null });
    const rows = [row('k1', 1, true), row('k2', 2), row('k3', 3)];
    expect(newestUnretired(rows)).toBe('k3');
    expect(newestUnretired([row('k9', 5), row('k10', 5)])).toBe('k10');
    const { keys, sealing } = openDataKeys(master, rows);
    expect([...keys.keys()]).toEqual(['k1', 'k2', 'k3']);
    expect(sealing).toBe('k3');
    expect(() => openDataKeys(master, [row('k1', 1, true)])).toThrow(/no unretired key/);
  });
});
