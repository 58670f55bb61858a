// Connection failures (Node's and PostgreSQL's: shutting down, starting up, connection lost).
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08003', '08006']);

/**
 * PostgreSQL was not there for this request (restarting, failing over, a network cut): the
 * transaction never committed, so the client may simply send it again. A 503, not an internal error.
 */
export function databaseUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; driverError?: { code?: unknown; message?: unknown } } | null;
  if (!e || typeof e !== 'object') return false;
  const codes = [e.code, e.driverError?.code];
  const messages = [e.message, e.driverError?.message].filter((m): m is string => typeof m === 'string');
  return codes.some((c) => typeof c === 'string' && UNREACHABLE_CODES.has(c)) || messages.some((m) => /Connection terminated|connection timeout|terminating connection/i.test(m));
}
