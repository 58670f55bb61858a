import 'reflect-metadata';
import { createApp } from './app';
import { CorralLogger } from './common/logger';
import { ConfigError, readConfig } from './config/config';
import { prepareDatabase } from './database/database-bootstrap';
import { runMigrationsLocked } from './database/migrations';
import { loadMasterKey } from './secrets/master-key';

async function main() {
  let config;
  try {
    config = readConfig();
    // Before anything starts: with DATABASE_URL and no CORRAL_SECRETS_KEY this is a configuration error.
    loadMasterKey(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`corral: ${err.message}\nFix these environment variables (see README.md, "Configuration") and start again.\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = new CorralLogger(config.logLevel, config.logFormat);
  const database = await prepareDatabase(config, (line) => logger.event('info', line, {}, 'database'));
  logger.event('info', `database: ${database.description}`);
  // Signals may arrive before the app exists; stop closes whatever has started by then.
  const started: { app?: Awaited<ReturnType<typeof createApp>> } = {};
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.event('info', `received ${signal}, shutting down`);
    await started.app?.close().catch((err: Error) => logger.event('error', 'error while closing the application', { err: err.message }));
    await database.stop().catch((err: Error) => logger.event('error', 'error while stopping the database', { err: err.message }));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  if (config.runMigrations) {
    const applied = await runMigrationsLocked(database.url);
    if (applied.length) logger.event('info', `applied ${applied.length} migration(s)`, { migrations: applied }, 'database');
  }
  const app = (started.app = await createApp(config, database.url, logger));
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.event('info', `Corral control plane listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port} (public URL ${config.publicUrl})`, { port });
}

main().catch((err: Error) => {
  process.stderr.write(`corral: failed to start: ${err.message}\n`);
  process.exit(1);
});
