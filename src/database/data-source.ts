import { join } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { SnakeNamingStrategy } from './snake-naming.strategy';

// Every module's entities, found by file name: database/ imports no feature module, and a new
// module's tables join the app, the migration CLI and its drift check without an edit here.
// Resolves to src/**/*.entity.ts from the sources and dist/src/**/*.entity.js once built.
export const ENTITIES_GLOB = join(__dirname, '..', '**', '*.entity.{ts,js}');

// Resolves to migrations/*.ts from the sources and dist/migrations/*.js once built.
export const MIGRATIONS_GLOB = join(__dirname, '..', '..', 'migrations', '*.{ts,js}');

/** The one data source definition shared by the app, the migration CLI and the tests. */
export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: [ENTITIES_GLOB],
    migrations: [MIGRATIONS_GLOB],
    migrationsTableName: 'migrations',
    namingStrategy: new SnakeNamingStrategy(),
    // gen_random_uuid() is built into PostgreSQL 13+: no extension to install.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    synchronize: false,
    migrationsRun: false,
    extra: { max: poolSize, application_name: 'corral' },
  };
}

export function createDataSource(url: string, poolSize = 10): DataSource {
  return new DataSource(dataSourceOptions(url, poolSize));
}
