import type { ReactNode } from 'react';
import type { ApiError } from '../api/api-client';

/** An error in a form or on a page, announced to screen readers. */
export function ErrorMessage({ error }: { error: string | ApiError | null | undefined }) {
  if (!error) return null;
  return (
    <p className="error-message" role="alert">
      {typeof error === 'string' ? error : error.message}
    </p>
  );
}

/** Loading, error or the content, for a page section that reads from the API. */
export function Loadable<T>({ data, error, children }: { data: T | undefined; error: ApiError | undefined; children: (data: T) => ReactNode }) {
  if (data !== undefined) {
    return (
      <>
        {error && <ErrorMessage error={`Could not refresh: ${error.message}`} />}
        {children(data)}
      </>
    );
  }
  if (error) return <ErrorMessage error={error} />;
  return (
    <p className="muted" role="status">
      Loading…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
