import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { ConfigError, readConfig } from '../config/config';
import { createDataSource } from './data-source';
import { prepareDatabase } from './database-bootstrap';
import { withDatabase } from './database-url';
import { runMigrationsLocked } from './migrations';

const USAGE = `usage: migration-cli <run | revert | show | generate <Name> | check>
  run       apply pending migrations (under the advisory lock the app uses)
  revert    undo the most recent migration
  show      list migrations and whether each is applied
  generate  write migrations/<timestamp>-<Name>.ts with what the entities need beyond the migrations
  check     fail when the entities and the migrations disagree (CI drift check)`;

/** SQL the entities need that the migrations do not create, measured on a scratch database. */
async function pendingSchemaChanges(url: string) {
  const scratch = `corral_scratch_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${scratch}`);
  try {
    const scratchUrl = withDatabase(url, scratch);
    await runMigrationsLocked(scratchUrl);
    const dataSource = createDataSource(scratchUrl, 2);
    await dataSource.initialize();
    try {
      return await dataSource.driver.createSchemaBuilder().log();
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
    await admin.end();
  }
}

function quote(sql: string): string {
  return '`' + sql.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${') + '`';
}

function migrationSource(className: string, up: string[], down: string[]): string {
  const lines = (queries: string[]) => queries.map((q) => `    await queryRunner.query(${quote(q)});`).join('\n');
  return `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${className} implements MigrationInterface {
  name = '${className}';

  async up(queryRunner: QueryRunner): Promise<void> {
${lines(up)}
  }

  async down(queryRunner: QueryRunner): Promise<void> {
${lines(down)}
  }
}
`;
}

async function withDataSource<T>(url: string, fn: (ds: DataSource) => Promise<T>): Promise<T> {
  const dataSource = createDataSource(url, 2);
  await dataSource.initialize();
  try {
    return await fn(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, name] = argv;
  if (!command || !['run', 'revert', 'show', 'generate', 'check'].includes(command)) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (command === 'generate' && !/^[A-Z][A-Za-z0-9]{0,80}$/.test(name ?? '')) {
    process.stderr.write('generate needs a PascalCase name, e.g. npm run migration:generate -- AddAgents\n');
    return 2;
  }
  const config = readConfig();
  const database = await prepareDatabase(config, (line) => process.stderr.write(`${line}\n`));
  try {
    switch (command) {
      case 'run': {
        const applied = await runMigrationsLocked(database.url);
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'no pending migrations\n');
        return 0;
      }
      case 'revert':
        await withDataSource(database.url, (ds) => ds.undoLastMigration({ transaction: 'each' }));
        process.stdout.write('reverted the most recent migration\n');
        return 0;
      case 'show':
        await withDataSource(database.url, async (ds) => {
          const applied = new Set((await ds.query<{ name: string }[]>('SELECT name FROM migrations')).map((r) => r.name));
          for (const m of ds.migrations) process.stdout.write(`${applied.has(m.name!) ? '[x]' : '[ ]'} ${m.name}\n`);
        });
        return 0;
      case 'generate': {
        const changes = await pendingSchemaChanges(database.url);
        if (!changes.upQueries.length) {
          process.stdout.write('the entities match the migrations: nothing to generate\n');
          return 0;
        }
        const timestamp = Date.now();
        const file = join(__dirname, '..', '..', '..', 'migrations', `${timestamp}-${name}.ts`);
        writeFileSync(
          file,
          migrationSource(
            `${name}${timestamp}`,
            changes.upQueries.map((q) => q.query),
            changes.downQueries.reverse().map((q) => q.query),
          ),
        );
        process.stdout.write(`wrote ${file}; review it, then commit it\n`);
        return 0;
      }
      case 'check': {
        const changes = await pendingSchemaChanges(database.url);
        if (!changes.upQueries.length) {
          process.stdout.write('migrations match the entities\n');
          return 0;
        }
        process.stderr.write(
          `the entities need schema changes no migration makes; run "npm run migration:generate -- <Name>" and commit the result:\n${changes.upQueries.map((q) => `  ${q.query}`).join('\n')}\n`,
        );
        return 1;
      }
    }
    return 2;
  } finally {
    // A server another process left running (the app, say) is not ours to stop.
    if (!database.adopted) await database.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `migration command failed: ${err.message}\n`);
    process.exit(1);
  },
);
