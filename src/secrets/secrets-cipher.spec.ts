import { randomBytes } from 'node:crypto';
import { SecretKeyring, SecretsCipher, sealedKeyId } from './secrets-cipher';
import { SecretsErrorCode, type SecretsException } from './secrets.exception';

function cipherWith(keys: Record<string, Buffer>, sealing: string) {
  const ring = new SecretKeyring();
  ring.replace(new Map(Object.entries(keys)), sealing);
  return new SecretsCipher(ring);
}

function errorOf(fn: () => unknown): SecretsException {
  try {
    fn();
  } catch (err) {
    return err as SecretsException;
  }
  throw new Error('it did not throw');
}

// Flips one bit of the byte at `at` of the sealed data (after c1.<key>.).
function flip(sealed: string, at: number): string {
  const [v, key, data] = sealed.split('.');
  const bytes = Buffer.from(data, 'base64url');
  bytes[at] ^= 1;
  return `${v}.${key}.${bytes.toString('base64url')}`;
}

describe('SecretsCipher', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const plain = 'hunter2-ütf8-🔑';

  it('opens what it sealed, under the newest key, with a fresh nonce each time', () => {
    const cipher = cipherWith({ k1 }, 'k1');
    const a = cipher.seal(plain, 'job-secret:org-1');
    const b = cipher.seal(plain, 'job-secret:org-1');
    expect(a).toMatch(/^c1\.k1\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('hunter2');
    expect(sealedKeyId(a)).toBe('k1');
    expect(cipher.open(a, 'job-secret:org-1')).toBe(plain);
    expect(cipher.open(cipher.seal('', 'x'), 'x')).toBe('');
  });

  it('opens values of an older key it still holds, and seals with the one it is told to', () => {
    const old = cipherWith({ k1 }, 'k1').seal(plain, 'aad');
    const both = cipherWith({ k1, k2 }, 'k2');
    expect(both.open(old, 'aad')).toBe(plain);
    expect(sealedKeyId(both.seal(plain, 'aad'))).toBe('k2');
  });

  it('refuses a value sealed for other associated data (another row or organisation)', () => {
    const cipher = cipherWith({ k1 }, 'k1');
    const sealed = cipher.seal(plain, 'job-secret:org-1');
    const err = errorOf(() => cipher.open(sealed, 'job-secret:org-2'));
    expect(err.code).toBe(SecretsErrorCode.SECRET_REJECTED);
    expect(err.message).toMatch(/failed authentication: it was altered, or it was sealed for another row/);
  });

  it('refuses a tampered value: nonce, ciphertext, tag or key id changed', () => {
    const cipher = cipherWith({ k1, k2 }, 'k1');
    const sealed = cipher.seal(plain, 'aad');
    const length = Buffer.from(sealed.split('.')[2], 'base64url').length;
    for (const at of [0, 12, length - 1]) expect(errorOf(() => cipher.open(flip(sealed, at), 'aad')).code).toBe(SecretsErrorCode.SECRET_REJECTED);
    expect(errorOf(() => cipher.open(sealed.replace('c1.k1.', 'c1.k2.'), 'aad')).code).toBe(SecretsErrorCode.SECRET_REJECTED);
    expect(errorOf(() => cipher.open(sealed.slice(0, 12), 'aad')).code).toBe(SecretsErrorCode.SECRET_REJECTED);
  });

  it('says which key it lacks for a value under a key it does not hold', () => {
    const sealed = cipherWith({ k2 }, 'k2').seal(plain, 'aad');
    const err = errorOf(() => cipherWith({ k1 }, 'k1').open(sealed, 'aad'));
    expect(err.code).toBe(SecretsErrorCode.SECRET_KEY_UNKNOWN);
    expect(err.message).toContain('secret key "k2", which this node does not have');
  });

  it('never repeats a value, clear or sealed, in its errors', () => {
    const cipher = cipherWith({ k1 }, 'k1');
    const notSealed = errorOf(() => cipher.open('hunter2-in-clear', 'aad'));
    expect(notSealed.code).toBe(SecretsErrorCode.SECRET_MALFORMED);
    expect(notSealed.message).not.toContain('hunter2');
    const sealed = cipher.seal(plain, 'aad');
    expect(errorOf(() => cipher.open(sealed, 'other')).message).not.toContain(sealed.split('.')[2]);
  });

  it('seals nothing before its keys are loaded', () => {
    expect(errorOf(() => new SecretsCipher(new SecretKeyring()).seal(plain, 'aad')).code).toBe(SecretsErrorCode.SECRET_KEYS_NOT_LOADED);
  });
});
