import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretsErrorCode, SecretsException } from './secrets.exception';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// c1.<keyId>.<base64url(nonce | ciphertext | tag)>: the version and the key travel with the value.
const SEALED = /^c1\.([a-z0-9-]{1,40})\.([A-Za-z0-9_-]+)$/;

/** AES-256-GCM with a random 96-bit nonce: nonce | ciphertext | tag. */
export function gcmSeal(key: Buffer, plain: Buffer, aad: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or null when the tag does not verify (altered, another key or another `aad`). */
export function gcmOpen(key: Buffer, blob: Buffer, aad: string): Buffer | null {
  if (blob.length < NONCE_BYTES + TAG_BYTES) return null;
  const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

/** The key a sealed value names, or undefined when it is not a sealed value. */
export function sealedKeyId(value: string): string | undefined {
  return SEALED.exec(value)?.[1];
}

/**
 * The data keys this node holds in memory (loaded by SecretKeysService, or by the CLI), and the
 * one new values are sealed with: sealing and opening never wait for the database.
 */
export class SecretKeyring {
  private keys: ReadonlyMap<string, Buffer> = new Map();
  private sealingId: string | undefined;

  replace(keys: ReadonlyMap<string, Buffer>, sealingId: string) {
    if (!keys.has(sealingId)) throw new Error(`the sealing key "${sealingId}" is not among the keys`);
    this.keys = keys;
    this.sealingId = sealingId;
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  get(keyId: string): Buffer | undefined {
    return this.keys.get(keyId);
  }

  /** The id of the key new values are sealed with (undefined before the keys are loaded). */
  get sealing(): string | undefined {
    return this.sealingId;
  }
}

/**
 * Seals and opens sensitive values at rest: AES-256-GCM, a random nonce per value, and
 * associated data (`aad`) that binds each value to where it is stored, so a sealed value copied
 * to another row or organisation does not open there. (No Nest decorator: the unit tests load
 * it without Nest; SecretsModule provides it.)
 */
export class SecretsCipher {
  constructor(private readonly ring: SecretKeyring) {}

  /** `plain` sealed with the newest data key, as `c1.<keyId>.<base64url>`. */
  seal(plain: string, aad: string): string {
    const keyId = this.ring.sealing;
    const key = keyId === undefined ? undefined : this.ring.get(keyId);
    if (!key) throw new SecretsException(SecretsErrorCode.SECRET_KEYS_NOT_LOADED, 'the secret keys are not loaded yet: nothing can be sealed before the node has started');
    return `c1.${keyId}.${gcmSeal(key, Buffer.from(plain, 'utf8'), aad).toString('base64url')}`;
  }

  /** The value `seal` was given; throws when it was altered, sealed with other `aad`, or under a key this node does not have. */
  open(sealed: string, aad: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SecretsException(SecretsErrorCode.SECRET_MALFORMED, 'not a sealed value (expected c1.<key id>.<data>)');
    const [, keyId, data] = match;
    const key = this.ring.get(keyId);
    if (!key)
      throw new SecretsException(
        SecretsErrorCode.SECRET_KEY_UNKNOWN,
        `a value is sealed under secret key "${keyId}", which this node does not have: its secret_keys row is gone, or this node has not loaded it yet`,
      );
    const plain = gcmOpen(key, Buffer.from(data, 'base64url'), aad);
    if (!plain) throw new SecretsException(SecretsErrorCode.SECRET_REJECTED, `a value sealed under secret key "${keyId}" failed authentication: it was altered, or it was sealed for another row`);
    return plain.toString('utf8');
  }
}
