import type { CorralConfig } from '../config/config';
import { redactUrl } from '../config/config';
import { EmbeddedPostgres } from './embedded-postgres';

export interface PreparedDatabase {
  url: string;
  description: string;
  adopted: boolean;
  stop: () => Promise<void>;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL under CORRAL_DATA_DIR, started (or adopted) here. */
export async function prepareDatabase(config: CorralConfig, log: (line: string) => void): Promise<PreparedDatabase> {
  if (config.databaseUrl) {
    return { url: config.databaseUrl, description: redactUrl(config.databaseUrl), adopted: false, stop: async () => undefined };
  }
  const embedded = new EmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPostgresPort, log });
  const running = await embedded.start();
  return {
    url: running.socketUrl ?? running.url,
    description: `embedded PostgreSQL on 127.0.0.1:${running.port}${running.socketUrl ? ' (reached through its unix socket)' : ''}, data in ${running.dataDir}${running.adopted ? ' (adopted the server left running by a previous start)' : ''}`,
    adopted: running.adopted,
    stop: () => embedded.stop(),
  };
}
