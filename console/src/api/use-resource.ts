import { useCallback, useEffect, useEffectEvent, useRef, useState } from 'react';
import { api, ApiError } from './api-client';

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** Reads again (keeps showing the current data meanwhile). */
  reload: () => void;
}

export interface ResourceOptions<T> {
  /** Re-read this often while the page is visible. */
  pollMs?: number;
  /** Keep polling only while this holds for the latest answer (a finished task stops changing). */
  pollWhile?: (data: T) => boolean;
}

interface State<T> {
  path: string | null;
  data?: T;
  error?: ApiError;
}

/**
 * GETs `path` (nothing when null) and keeps the answer, optionally re-reading it on a timer.
 * Only the newest answer is kept, so a slow old read never overwrites a newer one; what an old
 * path answered is never shown for a new one.
 */
export function useResource<T>(path: string | null, options: ResourceOptions<T> = {}): Resource<T> {
  const [state, setState] = useState<State<T>>({ path: null });
  const generation = useRef(0);
  const latest = useRef<T | undefined>(undefined);
  const { pollMs } = options;
  const shouldPoll = useEffectEvent(() => document.visibilityState === 'visible' && (latest.current === undefined || !options.pollWhile || options.pollWhile(latest.current)));

  const load = useCallback(() => {
    if (path === null) return;
    const mine = ++generation.current;
    api<T>(path).then(
      (data) => {
        if (mine !== generation.current) return;
        latest.current = data;
        setState({ path, data });
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        const error = err instanceof ApiError ? err : new ApiError(0, 'ERROR', (err as Error).message);
        setState((s) => ({ path, data: s.path === path ? s.data : undefined, error }));
      },
    );
  }, [path]);

  useEffect(() => {
    latest.current = undefined;
    load();
    if (!pollMs) return;
    const timer = setInterval(() => shouldPoll() && load(), pollMs);
    return () => clearInterval(timer);
  }, [load, pollMs]);

  const current = path !== null && state.path === path;
  return { data: current ? state.data : undefined, error: current ? state.error : undefined, loading: path !== null && !current, reload: load };
}
