import type { Logger as TypeOrmLogger } from 'typeorm';
import { dbQueries } from './metrics';

/** Counts every statement the node sends (what "an idle agent costs no query" is measured by). */
export class QueryCounter implements TypeOrmLogger {
  logQuery() {
    dbQueries.inc();
  }
  logQueryError() {}
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log() {}
}
