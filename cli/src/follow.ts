import type { LogLine } from '../../src/protocol/api-schema';
import { type Api, ApiError, ConnectionError } from './api';

export interface FollowOptions {
  /** Each new line once, in order, even across reconnections. */
  onLine(line: LogLine): void;
  /** Called every `everyMs` while following (a deployment's pause is not in its log). */
  tick?: () => Promise<void>;
  everyMs?: number;
  /** Stops following (and resolves with 'timeout') after this long. */
  timeoutMs?: number;
  /** Told once per broken stream, before reconnecting. */
  onReconnect?: (why: string) => void;
}

const RECONNECT_MS = 2_000;

/**
 * Follows a log endpoint's event stream until the server says the task ended. The server sends a
 * whole log again on each connection, so lines already shown are told apart by job, attempt
 * and sequence number; a broken stream is reopened, an answer refusing it is thrown.
 */
export async function followLog(api: Api, path: string, options: FollowOptions): Promise<'ended' | 'timeout'> {
  const seen = new Set<string>();
  const stop = new AbortController();
  let ended = false;
  const deadline = options.timeoutMs ? setTimeout(() => stop.abort(), options.timeoutMs) : undefined;
  const ticker = options.tick ? setInterval(() => void options.tick!().catch(() => undefined), options.everyMs ?? 3_000) : undefined;
  try {
    while (!ended && !stop.signal.aborted) {
      try {
        await api.stream(
          path,
          (e) => {
            if (e.event === 'end') ended = true;
            if (e.event !== 'log') return;
            const line = JSON.parse(e.data) as LogLine;
            const key = `${line.jobId}:${line.attempt}:${line.seq}`;
            if (seen.has(key)) return;
            seen.add(key);
            options.onLine(line);
          },
          stop.signal,
        );
        if (!ended && !stop.signal.aborted) options.onReconnect?.('the server closed the log stream');
      } catch (err) {
        if (err instanceof ApiError && err.status !== 503 && err.status !== 429) throw err;
        if (stop.signal.aborted) break;
        options.onReconnect?.(err instanceof ConnectionError || err instanceof ApiError ? err.message : String(err));
      }
      if (!ended && !stop.signal.aborted) await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  } finally {
    clearTimeout(deadline);
    clearInterval(ticker);
  }
  return ended ? 'ended' : 'timeout';
}

/** A line as a person reads it in a terminal, prefixed by where it ran. */
export function prefixed(prefix: string, text: string): string {
  return text.replace(/^(?=.)/gm, prefix);
}
