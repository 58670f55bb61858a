import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { CLUSTER_CHANNEL } from '../cluster/cluster-events.service';
import { type ClusterEvent, parseClusterEvent } from '../cluster/cluster-event.schema';
import { keyNumber, newestUnretired, openDataKeys, wrapDataKey } from './master-key';
import { SEALED_COLUMNS, type SealedColumn } from './sealed-columns';
import { type SealedRow, SealedValuesRepository } from './sealed-values.repository';
import { SecretKeysRepository, FIRST_KEY_ID } from './secret-keys.repository';
import { SECRET_KEYS_RELOAD_SECONDS } from './secret-keys.service';
import { SecretKeyring, SecretsCipher, sealedKeyId } from './secrets-cipher';

export interface RotationOptions {
  /** How long to wait for every live node to say it seals with the new key. */
  confirmSeconds: number;
  /** How long values may keep appearing under an older key before the rotation gives up (without retiring anything). */
  settleSeconds: number;
  /** A node silent this long is not waited for (NODE_DEAD_AFTER_SECONDS). */
  deadAfterSeconds: number;
  batchSize: number;
  say: (line: string) => void;
  columns?: readonly SealedColumn[];
}

/** The rotation failed in a way the operator can act on; nothing was retired. */
export class RotationError extends Error {}

const LOCK = `hashtext('corral_secrets_rotation')`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const label = (c: SealedColumn) => `${c.table}.${c.column}`;

/**
 * Rotates the data key on a running cluster, in steps that each leave it working:
 *  1. a new key kN (or, when an earlier rotation did not finish, its key) is added; the old ones still open;
 *  2. every node is told (`secret-keys-changed`) and each confirms it seals with kN; a node that
 *     does not within `confirmSeconds` loads it on its timer;
 *  3. every sealed column is walked in id order and each value not under kN is re-encrypted, in
 *     batches, a row at a time compare-and-set; passes repeat until one finds nothing left, so a
 *     value a node sealed with an old key meanwhile (or a row that was busy) is caught too;
 *  4. the other keys are retired (kept: a retired key still opens, e.g. a value restored from a backup).
 * `listener` is a connection of its own: it holds the rotation's lock and hears the confirmations.
 */
export async function rotateSecretKeys(dataSource: DataSource, listener: Client, master: Buffer, options: RotationOptions): Promise<void> {
  const { say } = options;
  const [{ locked }] = (await listener.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${LOCK}) AS locked`)).rows;
  if (!locked) throw new RotationError('another rotation is running (it holds the rotation lock); let it finish');
  const confirmed = new Map<string, string>();
  listener.on('notification', (msg) => {
    const parsed = parseClusterEvent(msg.payload);
    if ('event' in parsed && parsed.event.kind === 'secret-keys-loaded') confirmed.set(parsed.event.nodeId, parsed.event.keyId);
  });
  await listener.query(`LISTEN ${CLUSTER_CHANNEL}`);
  const keys = new SecretKeysRepository(dataSource);
  const announce = () => dataSource.query(`SELECT pg_notify($1, $2)`, [CLUSTER_CHANNEL, JSON.stringify({ kind: 'secret-keys-changed' } satisfies ClusterEvent)]);

  await keys.insertFirst(wrapDataKey(master, FIRST_KEY_ID, randomBytes(32)));
  let rows = await keys.all();
  let target: string;
  if (rows.filter((r) => !r.retiredAt).length > 1) {
    target = newestUnretired(rows)!;
    say(`resuming the rotation to ${target}: an earlier one did not finish`);
  } else {
    target = `k${Math.max(...rows.map((r) => keyNumber(r.id))) + 1}`;
    await keys.insert(target, wrapDataKey(master, target, randomBytes(32)));
    say(`added secret key ${target}`);
    rows = await keys.all();
  }
  const ring = new SecretKeyring();
  ring.replace(openDataKeys(master, rows).keys, target);
  const cipher = new SecretsCipher(ring);

  // 2. Every live node seals with the new key (asked again every 2 s: a node that started meanwhile missed the first call).
  const deadline = Date.now() + options.confirmSeconds * 1000;
  for (let asked = 0; ; await sleep(100)) {
    if (Date.now() - asked >= 2000) {
      await announce();
      asked = Date.now();
    }
    const missing = (await keys.liveNodes(options.deadAfterSeconds)).filter((id) => confirmed.get(id) !== target);
    if (!missing.length) {
      say(`every live node seals new values with ${target} (${confirmed.size} confirmed)`);
      break;
    }
    if (Date.now() > deadline) {
      say(
        `node(s) ${missing.join(', ')} did not confirm within ${options.confirmSeconds} s; they load ${target} within ${SECRET_KEYS_RELOAD_SECONDS} s, and what they seal before is re-encrypted below`,
      );
      break;
    }
  }

  // 3. Re-encrypt until a pass finds nothing under another key.
  const values = new SealedValuesRepository(dataSource);
  for (const column of options.columns ?? SEALED_COLUMNS) {
    const giveUp = Date.now() + options.settleSeconds * 1000;
    let total = 0;
    for (;;) {
      const { found, changed } = await pass(values, column, cipher, target, options.batchSize, (n) => say(`${label(column)}: ${total + n} row(s) re-encrypted…`));
      total += changed;
      if (!found) break;
      if (Date.now() > giveUp)
        throw new RotationError(
          `${label(column)}: values still appear under an older key after ${options.settleSeconds} s (a node that has not loaded ${target}?); nothing was retired, and the older keys still open them. Run "npm run secrets -- rotate" again to finish`,
        );
      if (!changed) await sleep(500); // the rows left were busy, or changed while being read
    }
    say(total ? `${label(column)}: re-encrypted ${total} row(s) under ${target}` : `${label(column)}: nothing to re-encrypt (every value is under ${target})`);
  }

  // 4. Retire the rest; nodes reload (a retired key still opens).
  const retired = await keys.retireAllBut(target);
  await announce();
  say(retired.length ? `retired ${retired.join(', ')}: rotation to ${target} done` : `rotation to ${target} done: no older key to retire`);
  await listener.query(`SELECT pg_advisory_unlock(${LOCK})`);
}

/** One walk through a column: how many rows held a value under another key, and how many were re-encrypted. */
async function pass(values: SealedValuesRepository, c: SealedColumn, cipher: SecretsCipher, target: string, batchSize: number, progress: (changed: number) => void) {
  let after: string | null = null;
  let found = 0;
  let changed = 0;
  for (;;) {
    const rows = await values.findNotUnder(c, target, after, batchSize);
    if (!rows.length) return { found, changed };
    after = rows.at(-1)!.id;
    found += rows.length;
    changed += await values.replace(
      c,
      rows.map((r) => ({ id: r.id, old: r.value, new: reseal(c, r, cipher, target) })),
    );
    if (rows.length === batchSize) progress(changed);
  }
}

function reseal(c: SealedColumn, row: SealedRow, cipher: SecretsCipher, target: string): string | string[] {
  const aad = c.aad({ ...row.extra, id: row.id });
  const one = (value: string) => {
    const keyId = sealedKeyId(value);
    if (keyId === target) return value;
    try {
      // A value written before its column was sealed is sealed now.
      return cipher.seal(keyId ? cipher.open(value, aad) : value, aad);
    } catch (err) {
      throw new RotationError(`${label(c)} of row ${row.id}: ${(err as Error).message}; nothing was retired`);
    }
  };
  return Array.isArray(row.value) ? row.value.map(one) : one(row.value);
}
