import { type ReactNode, useState } from 'react';
import { NavLink, Outlet } from 'react-router';
import { messageOf } from '../api/api-client';
import { useSession } from '../session/session-context';
import { ErrorMessage } from './feedback';

const NAV: { to: string; label: string }[] = [
  { to: '/', label: 'Dashboard' },
  { to: '/projects', label: 'Projects' },
  { to: '/agents', label: 'Agents' },
  { to: '/environments', label: 'Environments' },
  { to: '/lifecycles', label: 'Lifecycles' },
  { to: '/variable-sets', label: 'Variable sets' },
  { to: '/tasks', label: 'Tasks' },
  { to: '/run', label: 'Run a script' },
  { to: '/enrollment-tokens', label: 'Enrollment tokens' },
  { to: '/nodes', label: 'Nodes' },
  { to: '/audit', label: 'Audit log' },
  { to: '/members', label: 'Members' },
  { to: '/api-keys', label: 'API keys' },
];

/** The signed-in frame: navigation, who is logged in, and the page. */
export function Layout() {
  const { me, logOut } = useSession();
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Corral</span>
        <span className="org" title={me?.organization.slug}>
          {me?.organization.name}
        </span>
        <span className="spacer" />
        <span className="who">
          {me?.user.email} <span className="role">({me?.role})</span>
        </span>
        <button type="button" className="button-secondary button-small" onClick={() => logOut().catch((err: unknown) => setError(messageOf(err)))}>
          Log out
        </button>
      </header>
      <nav className="sidenav" aria-label="Main">
        <ul>
          {[...NAV, ...(me?.user.platformOperator ? [{ to: '/platform', label: 'Platform' }] : [])].map((item) => (
            <li key={item.to}>
              <NavLink to={item.to} end={item.to === '/'}>
                {item.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        <ErrorMessage error={error} />
        <Outlet />
      </main>
    </div>
  );
}

export function PageHeader({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children && <div className="page-actions">{children}</div>}
    </div>
  );
}
