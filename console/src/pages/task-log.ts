import type { LogLine } from '../api/types';

/**
 * Adds lines that arrived to those shown, once each: a (job, attempt, seq) already shown is
 * skipped, so a reconnect that replays the log does not double it.
 */
export function mergeLogLines(shown: LogLine[], arrived: LogLine[]): LogLine[] {
  if (!arrived.length) return shown;
  const seen = new Set(shown.map(lineKey));
  const fresh = arrived.filter((l) => {
    const key = lineKey(l);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return fresh.length ? [...shown, ...fresh] : shown;
}

function lineKey(l: LogLine): string {
  return `${l.jobId}:${l.attempt}:${l.seq}`;
}

export interface FollowHandlers {
  onLines: (lines: LogLine[]) => void;
  onEnd: (state: string) => void;
  onTrouble: (message: string | null) => void;
}

/**
 * Follows a log (GET /api/v1/tasks/:id/log, /api/v1/deployments/:id/log) as server-sent events until its task ends. The browser
 * reconnects by itself after a network failure; the server then replays the log from the start,
 * which mergeLogLines de-duplicates. Lines arriving together are handed over once per frame.
 */
export function followLog(path: string, handlers: FollowHandlers): () => void {
  const source = new EventSource(path);
  let batch: LogLine[] = [];
  let frame: number | undefined;
  const flush = () => {
    frame = undefined;
    const lines = batch;
    batch = [];
    if (lines.length) handlers.onLines(lines);
  };
  source.addEventListener('open', () => handlers.onTrouble(null));
  source.addEventListener('log', (e) => {
    batch.push(JSON.parse((e as MessageEvent<string>).data) as LogLine);
    frame ??= requestAnimationFrame(flush);
  });
  source.addEventListener('end', (e) => {
    source.close();
    if (frame !== undefined) cancelAnimationFrame(frame);
    flush();
    handlers.onEnd((JSON.parse((e as MessageEvent<string>).data) as { state: string }).state);
  });
  // The server's own `error` event (reading failed) and connection failures both land here.
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) handlers.onTrouble('The live log lost its connection; reconnecting…');
    else handlers.onTrouble('The live log stopped; reload the page to follow it again.');
  });
  return () => {
    source.close();
    if (frame !== undefined) cancelAnimationFrame(frame);
  };
}
