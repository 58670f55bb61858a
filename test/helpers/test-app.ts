import { HttpClient } from './http-client';
import { type ControlPlaneProcess, startControlPlane } from './control-plane-process';
import { createTestDatabase } from './test-database';

export interface TestApp {
  url: string;
  databaseUrl: string;
  process: ControlPlaneProcess;
  /** Everything the node logged so far, for asserting what must never be logged. */
  logs: () => string;
  client: () => HttpClient;
  close: () => Promise<void>;
}

/**
 * A control-plane node (a real process, over real HTTP) on its own database cloned from the
 * migrated template. `env` overrides configuration variables, e.g. { AUTH_RATE_LIMIT_PER_IP: '2' }.
 */
export async function startTestApp(env: Record<string, string> = {}, database?: { url: string; drop: () => Promise<void> }): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  try {
    const proc = await startControlPlane({ DATABASE_URL: db.url, ...env });
    return {
      url: proc.url,
      databaseUrl: db.url,
      process: proc,
      logs: proc.output,
      client: () => new HttpClient(proc.url),
      close: async () => {
        await proc.stop();
        if (!database) await db.drop();
      },
    };
  } catch (err) {
    if (!database) await db.drop();
    throw err;
  }
}
