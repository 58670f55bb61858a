import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, get, messageOf, onUnauthenticated, post } from '../api/api-client';
import { type Me, type Role, roleAtLeast } from '../api/types';

interface Session {
  /** undefined while the first check runs; null when logged out. */
  me: Me | null | undefined;
  /** Why the user is on the login page: their session ended. */
  notice: string | null;
  signedIn: (me: Me) => void;
  logOut: () => Promise<void>;
  can: (least: Role) => boolean;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    // Answers 200 with null when logged out, so a first visit logs no failed request.
    get('/api/v1/console/session').then(
      (session) => setMe(session.me),
      (err: unknown) => {
        setMe(null);
        setNotice(messageOf(err));
      },
    );
    return onUnauthenticated(() =>
      setMe((current) => {
        if (current) setNotice('Your session ended; log in again.');
        return null;
      }),
    );
  }, []);

  const signedIn = useCallback((next: Me) => {
    setNotice(null);
    setMe(next);
  }, []);
  const logOut = useCallback(async () => {
    try {
      await post('/api/v1/auth/logout');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    }
    setNotice(null);
    setMe(null);
  }, []);
  const can = useCallback((least: Role) => !!me && roleAtLeast(me.role, least), [me]);

  const value = useMemo(() => ({ me, notice, signedIn, logOut, can }), [me, notice, signedIn, logOut, can]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
