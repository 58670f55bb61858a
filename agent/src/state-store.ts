import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { privateKeyFromPem } from '../../src/protocol/identity';
import { AGENT_STATUSES, ServerKeySchema, TRANSPORTS } from '../../src/protocol/messages';
import { writeFileDurably } from './durable-file';
import { ConfigError } from './errors';

/** What enrollment leaves behind: who this agent is and which server keys it trusts. */
export const IdentitySchema = z.object({
  version: z.literal(1),
  agentId: z.string().min(1),
  name: z.string().min(1),
  servers: z.array(z.string()).min(1),
  publicKey: z.string(),
  fingerprint: z.string(),
  verificationCode: z.string(),
  serverKeys: z.array(ServerKeySchema).min(1),
  caFile: z.string().nullable(),
  enrolledAt: z.string(),
});
export type Identity = z.infer<typeof IdentitySchema>;

/** Written by `run` as things change, read by `status`: the last known approval and connection. */
export const StatusFileSchema = z.object({
  status: z.enum(AGENT_STATUSES).nullable(),
  statusReason: z.string().nullable(),
  statusIssuedAt: z.number().nullable(),
  transport: z.enum(TRANSPORTS).nullable(),
  server: z.string().nullable(),
  connected: z.boolean(),
  lastError: z.string().nullable(),
  updatedAt: z.string(),
  pid: z.number().nullable(),
});
export type StatusFile = z.infer<typeof StatusFileSchema>;

export const EMPTY_STATUS: Omit<StatusFile, 'updatedAt'> = {
  status: null,
  statusReason: null,
  statusIssuedAt: null,
  transport: null,
  server: null,
  connected: false,
  lastError: null,
  pid: null,
};

function readJson(path: string): unknown | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON (${(err as Error).message})`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The agent's files in its state directory (mode 0700): identity, private key, status, lock. */
export class StateStore {
  readonly identityPath: string;
  readonly keyPath: string;
  readonly statusPath: string;
  readonly lockPath: string;

  constructor(readonly dir: string) {
    this.identityPath = join(dir, 'identity.json');
    this.keyPath = join(dir, 'agent.key');
    this.statusPath = join(dir, 'status.json');
    this.lockPath = join(dir, 'agent.pid');
  }

  ensureDir() {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new ConfigError(`cannot create state directory ${this.dir}: ${(err as Error).message} (choose another with --state-dir or CORRAL_STATE_DIR)`);
    }
  }

  hasIdentity(): boolean {
    return readJson(this.identityPath) !== undefined;
  }

  readIdentity(): Identity | null {
    const json = readJson(this.identityPath);
    if (json === undefined) return null;
    const parsed = IdentitySchema.safeParse(json);
    if (!parsed.success)
      throw new ConfigError(`${this.identityPath} is damaged (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); restore it from a backup or enroll again`);
    return parsed.data;
  }

  writeIdentity(identity: Identity) {
    writeFileDurably(this.identityPath, `${JSON.stringify(IdentitySchema.parse(identity), null, 2)}\n`, 0o644);
  }

  hasPrivateKey(): boolean {
    try {
      statSync(this.keyPath);
      return true;
    } catch {
      return false;
    }
  }

  /** Creates agent.key with mode 0600; never replaces an existing key. */
  writePrivateKey(pem: string) {
    const fd = openSync(this.keyPath, 'wx', 0o600);
    try {
      writeSync(fd, pem);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** The private key, and a warning when its file is readable by anyone but the owner. */
  readPrivateKey(): { key: KeyObject; warning: string | null } {
    let pem: string;
    let mode: number;
    try {
      pem = readFileSync(this.keyPath, 'utf8');
      mode = statSync(this.keyPath).mode & 0o777;
    } catch (err) {
      throw new ConfigError(`cannot read the agent key ${this.keyPath}: ${(err as Error).message}`);
    }
    let key: KeyObject;
    try {
      key = privateKeyFromPem(pem);
    } catch {
      throw new ConfigError(`${this.keyPath} does not hold a private key; restore it from a backup or enroll again`);
    }
    return { key, warning: mode & 0o077 ? `${this.keyPath} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${this.keyPath}` : null };
  }

  readStatus(): StatusFile | null {
    const json = readJson(this.statusPath);
    if (json === undefined) return null;
    const parsed = StatusFileSchema.safeParse(json);
    return parsed.success ? parsed.data : null;
  }

  writeStatus(status: Omit<StatusFile, 'updatedAt'>, now = new Date()) {
    writeFileDurably(this.statusPath, `${JSON.stringify({ ...status, updatedAt: now.toISOString() }, null, 2)}\n`, 0o644);
  }

  /**
   * One `run` per state directory: two processes with one identity would fight over the
   * connection. A lock left by a process that died is taken over.
   */
  acquireRunLock(): () => void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(this.lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
        return () => {
          try {
            if (readFileSync(this.lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(this.lockPath);
          } catch {
            // already gone
          }
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`cannot write ${this.lockPath}: ${(err as Error).message}`);
        const pid = Number.parseInt(readFileSync(this.lockPath, 'utf8'), 10);
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid))
          throw new ConfigError(`another corral-agent (pid ${pid}) is already running with state directory ${this.dir}`);
        unlinkSync(this.lockPath);
      }
    }
    throw new ConfigError(`cannot take the lock ${this.lockPath}`);
  }

  /** Whether the process that last wrote status.json is still running. */
  static processAlive(pid: number | null): boolean {
    return pid !== null && isAlive(pid);
  }
}
