import { type FormEvent, useState } from 'react';
import { Link, useLocation, useNavigate } from 'react-router';
import type { AcceptInvitationDto, LoginDto, SignupDto } from '../../../src/protocol/api-schema';
import { ApiError, messageOf, post } from '../api/api-client';
import { ErrorMessage } from '../components/feedback';
import { useSession } from '../session/session-context';

function AuthFrame({ title, intro, children }: { title: string; intro: string; children: React.ReactNode }) {
  const { notice } = useSession();
  return (
    <main className="auth" id="main">
      <div className="auth-card">
        <p className="brand brand-large">Corral</p>
        <p className="muted">Deploy to servers behind firewalls: agents connect out, you approve each one.</p>
        <h1>{title}</h1>
        <p>{intro}</p>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        {children}
      </div>
    </main>
  );
}

/** Field-level problems from a 422, by field name, when the API names them. */
function fieldProblems(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError) || !Array.isArray(err.details)) return {};
  const out: Record<string, string> = {};
  for (const d of err.details as { field?: string; problems?: string[] }[]) if (d.field && d.problems) out[d.field] = d.problems.join(', ');
  return out;
}

/** Posts the form to `path` and signs in with the answer; `then` runs once signed in. */
function useAuthForm(path: '/api/v1/auth/login' | '/api/v1/signup' | '/api/v1/invitations/accept', then?: () => void) {
  const { signedIn } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    // The form's inputs are named after the route's fields (the server checks them).
    const body = Object.fromEntries(new FormData(e.currentTarget).entries()) as LoginDto & SignupDto & AcceptInvitationDto;
    setBusy(true);
    setError(null);
    setFields({});
    try {
      signedIn(await post(path, { body }));
      then?.();
    } catch (err) {
      setError(messageOf(err));
      setFields(fieldProblems(err));
      setBusy(false);
    }
  };
  return { error, fields, busy, submit };
}

function Field({
  name,
  label,
  type = 'text',
  autoComplete,
  problem,
  hint,
  defaultValue,
}: {
  name: string;
  label: string;
  type?: string;
  autoComplete: string;
  problem?: string;
  hint?: string;
  defaultValue?: string;
}) {
  const describedBy = [hint ? `${name}-hint` : '', problem ? `${name}-problem` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={name}>{label}</label>
      <input id={name} name={name} type={type} autoComplete={autoComplete} defaultValue={defaultValue} required aria-invalid={problem ? true : undefined} aria-describedby={describedBy} />
      {hint && (
        <span className="hint" id={`${name}-hint`}>
          {hint}
        </span>
      )}
      {problem && (
        <span className="field-problem" id={`${name}-problem`}>
          {problem}
        </span>
      )}
    </div>
  );
}

export function LoginPage() {
  const { error, fields, busy, submit } = useAuthForm('/api/v1/auth/login');
  const from = (useLocation().state as { from?: string } | null)?.from;
  return (
    <AuthFrame title="Log in" intro="Welcome back. Log in to your organisation.">
      <form onSubmit={(e) => void submit(e)} noValidate aria-label="Log in">
        <Field name="email" label="Email" type="email" autoComplete="username" problem={fields.email} />
        <Field name="password" label="Password" type="password" autoComplete="current-password" problem={fields.password} />
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p className="auth-switch">
        New to Corral?{' '}
        <Link to="/signup" state={{ from }}>
          Sign up: create an organisation
        </Link>
      </p>
    </AuthFrame>
  );
}

export function SignupPage() {
  const { error, fields, busy, submit } = useAuthForm('/api/v1/signup');
  return (
    <AuthFrame title="Sign up" intro="Create an organisation; you become its owner.">
      <form onSubmit={(e) => void submit(e)} noValidate aria-label="Sign up">
        <Field name="organization" label="Organisation name" autoComplete="organization" problem={fields.organization} />
        <Field name="email" label="Email" type="email" autoComplete="username" problem={fields.email} />
        <Field name="password" label="Password" type="password" autoComplete="new-password" problem={fields.password} hint="A long passphrase: at least 10 characters." />
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create organisation'}
        </button>
      </form>
      <p className="auth-switch">
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </AuthFrame>
  );
}

/** The link an admin sends carries the token in its fragment, which never reaches a server's logs. */
export function AcceptInvitationPage() {
  const navigate = useNavigate();
  const { error, fields, busy, submit } = useAuthForm('/api/v1/invitations/accept', () => void navigate('/', { replace: true }));
  const token = new URLSearchParams(useLocation().hash.slice(1)).get('token') ?? '';
  return (
    <AuthFrame title="Accept an invitation" intro="Join the organisation that invited you. Until you accept, you are not a member.">
      <form onSubmit={(e) => void submit(e)} noValidate aria-label="Accept an invitation">
        <Field name="token" label="Invitation token" autoComplete="off" defaultValue={token} problem={fields.token} />
        <Field
          name="password"
          label="Password"
          type="password"
          autoComplete="current-password"
          problem={fields.password}
          hint="Your account's password if this email already has one; otherwise the password of the account this creates (at least 10 characters)."
        />
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Joining…' : 'Accept and join'}
        </button>
      </form>
      <p className="auth-switch">
        Not invited? <Link to="/signup">Sign up: create an organisation</Link>
      </p>
    </AuthFrame>
  );
}
