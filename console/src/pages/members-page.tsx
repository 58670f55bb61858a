import { type FormEvent, useState } from 'react';
import { del, messageOf, patch, post } from '../api/api-client';
import { type Role, ROLES } from '../api/types';
import { useResource } from '../api/use-resource';
import { CopyField } from '../components/copy-button';
import { ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { useSession } from '../session/session-context';
import { LIMIT_LABELS } from './limit-labels';

export function MembersPage() {
  const { me, can } = useSession();
  const isAdmin = can('admin');
  const members = useResource('/api/v1/members');
  const invitations = useResource(isAdmin ? '/api/v1/invitations' : null);
  const limits = useResource('/api/v1/organization/limits');
  const [error, setError] = useState<string | null>(null);
  const [addError, setAddError] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const [inviteToken, setInviteToken] = useState<string | null>(null);

  const act = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      members.reload();
      invitations.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const add = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setAddError(null);
    setResult(null);
    setInviteToken(null);
    try {
      const res = await post('/api/v1/members', {
        body: { email: String(form.get('email') ?? '').trim(), role: form.get('role') as Role },
      });
      setResult(
        `${res.invitation.email} is invited: send them this invitation link (shown once). They become a member when they accept it, with their account's password or, if they have no account yet, a new one.`,
      );
      setInviteToken(res.invitation.token);
      formEl.reset();
      invitations.reload();
    } catch (err) {
      setAddError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="Members" />
      <ErrorMessage error={error} />
      <Loadable data={members.data} error={members.error}>
        {(list) => (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Member since</th>
                  {isAdmin && (
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {list.map((m) => (
                  <tr key={m.id}>
                    <td>
                      {m.email} {m.userId === me?.user.id && <span className="muted">(you)</span>}
                    </td>
                    <td>
                      {isAdmin && m.userId !== me?.user.id ? (
                        <select
                          aria-label={`Role of ${m.email}`}
                          value={m.role}
                          onChange={(e) => void act(() => patch('/api/v1/members/{id}', { params: { path: { id: m.id } }, body: { role: e.target.value as Role } }))}
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      ) : (
                        m.role
                      )}
                    </td>
                    <td>
                      <RelativeTime value={m.createdAt} />
                    </td>
                    {isAdmin && (
                      <td>
                        {m.userId !== me?.user.id && (
                          <button type="button" className="button-secondary button-small" onClick={() => void act(() => del('/api/v1/members/{id}', { params: { path: { id: m.id } } }))}>
                            Remove
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loadable>
      {isAdmin && (
        <>
          <section className="panel" aria-labelledby="add-member-h">
            <h2 id="add-member-h">Invite a member</h2>
            <form className="form-grid" onSubmit={(e) => void add(e)} aria-label="Invite a member">
              <div className="field">
                <label htmlFor="member-email">Email</label>
                <input id="member-email" name="email" type="email" required />
              </div>
              <div className="field">
                <label htmlFor="member-role">Role</label>
                <select id="member-role" name="role" defaultValue="viewer">
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </div>
              <ErrorMessage error={addError} />
              <div className="form-actions">
                <button type="submit">Invite</button>
              </div>
            </form>
            {result && (
              <p className="notice" role="status">
                {result}
              </p>
            )}
            {inviteToken && <CopyField label="Invitation link" value={`${window.location.origin}/accept-invitation#token=${inviteToken}`} />}
          </section>
          <section aria-labelledby="invitations-h">
            <h2 id="invitations-h">Open invitations</h2>
            <Loadable data={invitations.data} error={invitations.error}>
              {(list) =>
                list.length === 0 ? (
                  <p className="muted">None.</p>
                ) : (
                  <ul className="plain-list">
                    {list.map((i) => (
                      <li key={i.id}>
                        {i.email} as {i.role}, expires <RelativeTime value={i.expiresAt} />{' '}
                        <button type="button" className="button-secondary button-small" onClick={() => void act(() => del('/api/v1/invitations/{id}', { params: { path: { id: i.id } } }))}>
                          Revoke
                        </button>
                      </li>
                    ))}
                  </ul>
                )
              }
            </Loadable>
          </section>
        </>
      )}
      <section aria-labelledby="limits-h">
        <h2 id="limits-h">Limits of this organisation</h2>
        <p className="muted">What the organisation may use of this control plane, set by the platform’s operator.</p>
        <Loadable data={limits.data} error={limits.error}>
          {(view) => (
            <dl className="facts">
              {LIMIT_LABELS.map(([name, label, unit]) => (
                <div key={name}>
                  <dt>{label}</dt>
                  <dd>
                    {`${view.limits[name].toLocaleString('en')} ${unit}`.trim()}
                    {view.own[name] !== undefined ? ` (default ${view.defaults[name].toLocaleString('en')})` : ''}
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </Loadable>
      </section>
    </>
  );
}
