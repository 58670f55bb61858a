import { DataSource, IsNull, Not } from 'typeorm';
import { readConfig } from '../config/config';
import { prepareDatabase } from '../database/database-bootstrap';
import { createDataSource } from '../database/data-source';
import { fingerprintOf, generateAgentKeyPair } from '../protocol/identity';
import { CLUSTER_CHANNEL } from '../cluster/cluster-events.service';
import { ServerSigningKey } from './server-signing-key.entity';

const USAGE = `usage: npm run server-key -- <command>
  list             the control plane's signing keys and their state
  rotate           create a new key and publish it: connected agents learn it at once, others when they connect
  activate <keyId> sign with this key from now on (publish it first and give agents time to learn it)
  retire <keyId>   stop using and trusting this key (activate another first)`;

function state(k: ServerSigningKey, signing: string | undefined): string {
  if (k.retiredAt) return `retired ${k.retiredAt.toISOString()}`;
  if (k.keyId === signing) return 'active (signs)';
  return k.activatedAt ? 'active (superseded; still trusted)' : 'published (trusted, not yet signing)';
}

async function main(argv: string[]): Promise<number> {
  const [command, keyId] = argv;
  if (!command || !['list', 'rotate', 'activate', 'retire'].includes(command) || (['activate', 'retire'].includes(command) && !keyId)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const database = await prepareDatabase(readConfig(), (line) => process.stderr.write(`${line}\n`));
  const ds: DataSource = createDataSource(database.url, 2);
  await ds.initialize();
  try {
    const repo = ds.getRepository(ServerSigningKey);
    const keys = await repo.find({ order: { createdAt: 'ASC' } });
    const signing = keys.filter((k) => k.activatedAt && !k.retiredAt).sort((a, b) => b.activatedAt!.getTime() - a.activatedAt!.getTime())[0]?.keyId;
    const changed = () => ds.query(`SELECT pg_notify($1, $2)`, [CLUSTER_CHANNEL, JSON.stringify({ kind: 'keys-changed' })]);
    const key = keys.find((k) => k.keyId === keyId);

    switch (command) {
      case 'list':
        for (const k of keys) process.stdout.write(`${k.keyId}\t${fingerprintOf(k.publicKey)}\t${state(k, signing)}\n`);
        return 0;
      case 'rotate': {
        const next = Math.max(0, ...keys.map((k) => Number(/^srv-(\d+)$/.exec(k.keyId)?.[1] ?? 0))) + 1;
        const generated = generateAgentKeyPair();
        await repo.insert({ keyId: `srv-${next}`, publicKey: generated.publicKey, privateKeyPem: generated.privateKeyPem, activatedAt: null });
        await changed();
        process.stdout.write(
          `published srv-${next} (${fingerprintOf(generated.publicKey)}); agents now learn it, signed by ${signing}. Once they have (all connected agents at once; others when they next connect), run: npm run server-key -- activate srv-${next}\n`,
        );
        return 0;
      }
      case 'activate':
        if (!key || key.retiredAt) {
          process.stderr.write(`no unretired key "${keyId}"; see npm run server-key -- list\n`);
          return 1;
        }
        await repo.update({ keyId, retiredAt: IsNull() }, { activatedAt: () => 'now()' });
        await changed();
        process.stdout.write(`${keyId} signs from now on; retire the old key when no agent needs it: npm run server-key -- retire ${signing}\n`);
        return 0;
      case 'retire': {
        if (!key || key.retiredAt) {
          process.stderr.write(`no unretired key "${keyId}"; see npm run server-key -- list\n`);
          return 1;
        }
        const others = await repo.count({ where: { retiredAt: IsNull(), activatedAt: Not(IsNull()), keyId: Not(keyId) } });
        if (!others) {
          process.stderr.write(`${keyId} is the only active key; activate another first (npm run server-key -- rotate, then activate)\n`);
          return 1;
        }
        await repo.update({ keyId }, { retiredAt: () => 'now()' });
        await changed();
        process.stdout.write(`retired ${keyId}: no longer used or trusted; agents are told the remaining keys\n`);
        return 0;
      }
    }
    return 2;
  } finally {
    await ds.destroy();
    if (!database.adopted) await database.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`server-key: ${err.message}\n`);
    process.exit(1);
  },
);
