import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { errCode, errMessage } from './embedded-postgres-errors';
import { logTail } from './embedded-postgres-log';

export const SUPERUSER = 'corral';
export const DATABASE = 'corral';
export const HOST = '127.0.0.1';

export function buildUrl(port: number, password: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/${DATABASE}`;
}

// sockaddr_un holds 108 bytes with the terminating NUL; PostgreSQL refuses to start on a longer path.
const SOCKET_PATH_MAX = 107;
// pg_ctl hands its options to a shell: only paths that need no quoting inside '…' get a socket.
const PLAIN_PATH = /^[\w./+@-]+$/;

function socketPath(dir: string, port: number): string {
  return path.join(dir, `.s.PGSQL.${port}`);
}

export function socketFits(dir: string, port: number): boolean {
  return Buffer.byteLength(socketPath(dir, port)) <= SOCKET_PATH_MAX && PLAIN_PATH.test(dir);
}

/** The server's own socket, when it made one (a server started by an older version may not have). */
export function socketUrl(dir: string, port: number, password: string): string | undefined {
  if (!socketFits(dir, port) || !isSocket(socketPath(dir, port))) return undefined;
  const url = new URL(buildUrl(port, password));
  url.searchParams.set('host', dir);
  return url.toString();
}

function isSocket(file: string): boolean {
  try {
    return fs.statSync(file).isSocket();
  } catch {
    return false;
  }
}

export async function withClient<T>(port: number, password: string, database: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ host: HOST, port, user: SUPERUSER, password, database, connectionTimeoutMillis: 5000 });
  // Without a listener a server-side disconnect would surface as an uncaught 'error' event.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function ensureDatabase(port: number, password: string, logFile: string): Promise<void> {
  try {
    await withClient(port, password, 'postgres', async (client) => {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
      if (found.rowCount) return;
      try {
        await client.query(`CREATE DATABASE ${DATABASE}`);
      } catch (err) {
        // 42P04 duplicate_database: created concurrently, which is fine.
        if (errCode(err) !== '42P04') throw err;
      }
    });
  } catch (err) {
    throw new Error(`could not prepare database "${DATABASE}" on ${HOST}:${port}: ${errMessage(err)}` + logTail(logFile), { cause: err });
  }
}

export function isAuthError(err: unknown): boolean {
  const code = errCode(err);
  return code === '28P01' || code === '28000';
}
