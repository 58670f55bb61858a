import { useCallback, useEffect, useEffectEvent, useRef, useState } from 'react';
import { type Answer, ApiError, get, type Params, type PathOf, type RequiredKeys } from './api-client';

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

/** The route's params (required when it has any that are), then the polling options. */
type Rest<P extends PathOf<'get'>> = [RequiredKeys<Params<P>>] extends [never]
  ? [params?: Params<P>, options?: ResourceOptions<Answer<P>>]
  : [params: Params<P>, options?: ResourceOptions<Answer<P>>];

interface State<T> {
  key: string | null;
  data?: T;
  error?: ApiError;
}

/**
 * GETs `path` with `params` (nothing when the path is null) and keeps the answer, optionally
 * re-reading it on a timer: `useResource('/api/v1/projects/{id}', { path: { id } })`. Only the
 * newest answer is kept, so a slow old read never overwrites a newer one; what an old path and
 * params answered is never shown for new ones.
 */
export function useResource<P extends PathOf<'get'>>(path: P | null, ...[params, options]: Rest<P>): Resource<Answer<P>> {
  // What is read, by value: a page builds its params afresh on each render.
  return useRead<Answer<P>>(path === null ? null : JSON.stringify([path, params ?? {}]), options);
}

// useResource's signature checked the route and params against the document; here they are passed on.
const read = get as (path: string, params: object) => Promise<unknown>;

function useRead<T>(key: string | null, options: ResourceOptions<T> = {}): Resource<T> {
  const [state, setState] = useState<State<T>>({ key: null });
  const generation = useRef(0);
  const latest = useRef<T | undefined>(undefined);
  const { pollMs } = options;
  const shouldPoll = useEffectEvent(() => document.visibilityState === 'visible' && (latest.current === undefined || !options.pollWhile || options.pollWhile(latest.current)));

  const load = useCallback(() => {
    if (key === null) return;
    const mine = ++generation.current;
    const [path, params] = JSON.parse(key) as [string, object];
    read(path, params).then(
      (answer) => {
        const data = answer as T;
        if (mine !== generation.current) return;
        latest.current = data;
        setState({ key, data });
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        const error = err instanceof ApiError ? err : new ApiError(0, 'ERROR', (err as Error).message);
        setState((s) => ({ key, data: s.key === key ? s.data : undefined, error }));
      },
    );
  }, [key]);

  useEffect(() => {
    latest.current = undefined;
    load();
    if (!pollMs) return;
    const timer = setInterval(() => shouldPoll() && load(), pollMs);
    return () => clearInterval(timer);
  }, [load, pollMs]);

  const current = key !== null && state.key === key;
  return { data: current ? state.data : undefined, error: current ? state.error : undefined, loading: key !== null && !current, reload: load };
}
