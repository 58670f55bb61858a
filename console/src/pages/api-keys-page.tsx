import { type FormEvent, useState } from 'react';
import { del, messageOf, post } from '../api/api-client';
import { type ApiKey, type Role, roleAtLeast, ROLES } from '../api/types';
import { useResource } from '../api/use-resource';
import { CopyField } from '../components/copy-button';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';

export function ApiKeysPage() {
  const { me } = useSession();
  const keys = useResource('/api/v1/api-keys');
  const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const grantable = ROLES.filter((r) => me && roleAtLeast(me.role, r));

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setError(null);
    try {
      setCreated(await post('/api/v1/api-keys', { body: { name: String(form.get('name') ?? '').trim(), role: form.get('role') as Role } }));
      formEl.reset();
      keys.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const revoke = async (k: ApiKey) => {
    setListError(null);
    try {
      await del('/api/v1/api-keys/{id}', { params: { path: { id: k.id } } });
      keys.reload();
    } catch (err) {
      setListError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="API keys" />
      <p className="lead">
        Scripts and CI use an API key as <code>Authorization: Bearer crl_…</code>. A key never has more rights than the member who created it.
      </p>
      <section className="panel" aria-labelledby="new-key-h">
        <h2 id="new-key-h">New key</h2>
        <form className="form-grid" onSubmit={(e) => void create(e)} aria-label="New API key">
          <div className="field">
            <label htmlFor="key-name">Name</label>
            <input id="key-name" name="name" required maxLength={100} placeholder="ci" />
          </div>
          <div className="field">
            <label htmlFor="key-role">Role</label>
            <select id="key-role" name="role" defaultValue={me?.role}>
              {grantable.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </div>
          <ErrorMessage error={error} />
          <div className="form-actions">
            <button type="submit">Create key</button>
          </div>
        </form>
      </section>
      {created && (
        <section className="panel panel-secret" aria-labelledby="created-key-h">
          <h2 id="created-key-h">Key “{created.name}” created: copy it now</h2>
          <p>This is the only time the key is shown; the control plane keeps only its hash.</p>
          <CopyField label="API key" value={created.key} />
          <button type="button" className="button-secondary" onClick={() => setCreated(null)}>
            Done, hide it
          </button>
        </section>
      )}
      <ErrorMessage error={listError} />
      <Loadable data={keys.data} error={keys.error}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No API keys yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Key</th>
                    <th scope="col">Role</th>
                    <th scope="col">State</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((k) => (
                    <tr key={k.id}>
                      <td>{k.name}</td>
                      <td>
                        <code>{k.prefix}…</code>
                      </td>
                      <td>{k.role}</td>
                      <td>
                        <StatusBadge status={k.revokedAt ? 'revoked' : 'active'} />
                      </td>
                      <td>
                        <RelativeTime value={k.createdAt} />
                      </td>
                      <td>
                        <RelativeTime value={k.lastUsedAt} fallback="never" />
                      </td>
                      <td>
                        {!k.revokedAt && (
                          <button type="button" className="button-secondary button-small" onClick={() => void revoke(k)} aria-label={`Revoke key ${k.name}`}>
                            Revoke
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loadable>
    </>
  );
}
