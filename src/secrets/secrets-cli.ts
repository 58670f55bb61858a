import 'reflect-metadata';
import { Client } from 'pg';
import { ConfigError, readConfig } from '../config/config';
import { prepareDatabase } from '../database/database-bootstrap';
import { createDataSource } from '../database/data-source';
import { sqlErrorCode } from '../database/sql';
import { loadMasterKey, newestUnretired } from './master-key';
import { SEALED_COLUMNS } from './sealed-columns';
import { SealedValuesRepository } from './sealed-values.repository';
import { SecretKeysRepository } from './secret-keys.repository';
import { RotationError, rotateSecretKeys } from './secrets-rotation';

const USAGE = `usage: npm run secrets -- <command>
  rotate   re-encrypt every sensitive value under a new data key, on a running cluster: every node
           seals with it from then on, and the old keys are retired once nothing is left under them
           (after an interrupted rotation, finishes that one instead)
  status   the data keys, and how many stored values each seals`;

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (!command || !['rotate', 'status'].includes(command)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = readConfig();
  const master = loadMasterKey(config);
  const database = await prepareDatabase(config, (line) => process.stderr.write(`${line}\n`));
  const dataSource = createDataSource(database.url, 2);
  const listener = new Client({ connectionString: database.url, application_name: 'corral-secrets' });
  try {
    await dataSource.initialize();
    await listener.connect();
    const say = (line: string) => process.stdout.write(`${line}\n`);
    if (command === 'status') {
      const keys = await new SecretKeysRepository(dataSource).all();
      const sealing = newestUnretired(keys);
      for (const k of keys)
        say(`${k.id}\tcreated ${k.createdAt.toISOString()}\t${k.retiredAt ? `retired ${k.retiredAt.toISOString()}` : k.id === sealing ? 'seals new values' : 'not retired yet'}`);
      const values = new SealedValuesRepository(dataSource);
      for (const c of SEALED_COLUMNS) {
        const counts = await values.countByKey(c);
        say(`${c.table}.${c.column}: ${counts.length ? counts.map((x) => `${x.n} under ${x.keyId === '-' ? 'no key (not sealed yet)' : x.keyId}`).join(', ') : 'no values'}`);
      }
      return 0;
    }
    await rotateSecretKeys(dataSource, listener, master, { confirmSeconds: 30, settleSeconds: 120, deadAfterSeconds: config.nodeDeadAfterSeconds, batchSize: 500, say });
    return 0;
  } finally {
    await listener.end().catch(() => undefined);
    if (dataSource.isInitialized) await dataSource.destroy();
    // A server another process left running (the app, say) is not ours to stop.
    if (!database.adopted) await database.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    // 42P01: undefined table.
    if (sqlErrorCode(err) === '42P01') process.stderr.write(`secrets: the database is not migrated yet (${err.message}): start the control plane once, or run npm run migration:run\n`);
    else process.stderr.write(`secrets: ${err instanceof RotationError ? '' : 'failed: '}${err.message}\n`);
    process.exit(1);
  },
);
