import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../durable-file';

const PREFIX = 'sealed:v1:';

/**
 * The ledger's sensitive values (an offer's `sensitiveValues`, a finish's sensitive outputs) are
 * never on disk in clear: each is sealed with AES-256-GCM under a key of this agent's own
 * (`<stateDir>/jobs/ledger.key`, 0600, made once), bound to its job's id. A copy of the ledger
 * (a backup, a support bundle) holds no secret without that key.
 */
export class LedgerSecrets {
  private key: Buffer | null = null;

  constructor(private readonly dir: string) {}

  seal(value: string, jobId: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.ownKey(), nonce).setAAD(Buffer.from(jobId.toLowerCase()));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
  }

  /** The value in clear; a value written before values were sealed is taken as it is. */
  open(value: string, jobId: string): string {
    if (!value.startsWith(PREFIX)) return value;
    const raw = Buffer.from(value.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.ownKey(false), raw.subarray(0, 12)).setAAD(Buffer.from(jobId.toLowerCase()));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  }

  private ownKey(create = true): Buffer {
    if (this.key) return this.key;
    const path = join(this.dir, 'ledger.key');
    if (existsSync(path)) this.key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    else if (create) {
      this.key = randomBytes(32);
      writeFileDurably(path, `${this.key.toString('base64')}\n`, 0o600);
    } else throw new Error(`the ledger key ${path} is gone: sealed values of this entry cannot be read`);
    if (this.key.length !== 32) throw new Error(`the ledger key ${path} is not 32 bytes`);
    return this.key;
  }
}
