import { type FormEvent, useState } from 'react';
import { del, messageOf, post } from '../api/api-client';
import type { CreatedEnrollmentToken, EnrollmentToken } from '../api/types';
import { useResource } from '../api/use-resource';
import { CopyField } from '../components/copy-button';
import { EnvironmentChecklist } from '../components/environment-checklist';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { parseLabels } from './agent-decision-dialogs';

const EXPIRIES: [number, string][] = [
  [15, '15 minutes'],
  [60, '1 hour'],
  [24 * 60, '1 day'],
  [7 * 24 * 60, '7 days'],
  [30 * 24 * 60, '30 days'],
];

/**
 * What an operator pastes on the server: fetch the agent from this control plane and enroll it,
 * pinning the key this control plane signs with (so an enrollment answered by anyone else fails).
 */
export function installCommand(origin: string, token: string, serverKey: string): string {
  return `curl -fsSLo corral-agent.js ${origin}/downloads/corral-agent.js && node corral-agent.js enroll --server ${origin} --token ${token} --server-key ${serverKey}`;
}

export function EnrollmentTokensPage() {
  const tokens = useResource('/api/v1/enrollment-tokens');
  const [created, setCreated] = useState<CreatedEnrollmentToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [listError, setListError] = useState<string | null>(null);
  const [environments, setEnvironments] = useState(new Set<string>());

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const description = String(form.get('description') ?? '').trim();
    setBusy(true);
    setError(null);
    try {
      const token = await post('/api/v1/enrollment-tokens', {
        body: {
          expiresInMinutes: Number(form.get('expiresInMinutes')),
          maxUses: Number(form.get('maxUses')),
          ...(description ? { description } : {}),
          environments: [...environments],
          roles: parseLabels(String(form.get('roles') ?? '')),
        },
      });
      setCreated(token);
      tokens.reload();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: EnrollmentToken) => {
    setListError(null);
    try {
      await del('/api/v1/enrollment-tokens/{id}', { params: { path: { id: t.id } } });
      tokens.reload();
    } catch (err) {
      setListError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="Enrollment tokens" />
      <p className="lead">
        A token lets an agent <em>ask</em> to join; it grants nothing. Each enrolled agent waits as pending until an admin approves it.
      </p>
      <section className="panel" aria-labelledby="new-token-h">
        <h2 id="new-token-h">New token</h2>
        <form className="form-grid" onSubmit={(e) => void create(e)} aria-label="New enrollment token">
          <div className="field">
            <label htmlFor="token-expiry">Expires after</label>
            <select id="token-expiry" name="expiresInMinutes" defaultValue={60}>
              {EXPIRIES.map(([minutes, label]) => (
                <option key={minutes} value={minutes}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="token-uses">Uses</label>
            <input id="token-uses" name="maxUses" type="number" min={1} max={10000} defaultValue={1} required />
            <span className="hint">How many agents may enroll with it.</span>
          </div>
          <div className="field field-wide">
            <label htmlFor="token-description">Description (optional)</label>
            <input id="token-description" name="description" maxLength={200} placeholder="web servers in Frankfurt" />
          </div>
          <EnvironmentChecklist legend="Environments for its agents" selected={environments} onChange={setEnvironments} />
          <div className="field">
            <label htmlFor="token-roles">Roles for its agents</label>
            <input id="token-roles" name="roles" placeholder="web" />
          </div>
          <ErrorMessage error={error} />
          <div className="form-actions">
            <button type="submit" disabled={busy}>
              {busy ? 'Creating…' : 'Create token'}
            </button>
          </div>
        </form>
      </section>
      {created && (
        <section className="panel panel-secret" aria-labelledby="created-token-h">
          <h2 id="created-token-h">Token created: copy it now</h2>
          <p>
            This is the only time the token is shown. It expires <RelativeTime value={created.expiresAt} /> and can enroll {created.maxUses} agent
            {created.maxUses === 1 ? '' : 's'}.
          </p>
          <CopyField label="Token" value={created.token} />
          <p>
            On the server (Node.js 20 or newer), as the user the agent will run as, run this: it fetches the agent from here and enrolls it
            {created.environments.length || created.roles.length ? ` into ${[...created.environments, ...created.roles.map((r) => `role ${r}`)].join(', ')}` : ''}.
          </p>
          <CopyField label="Command" value={installCommand(window.location.origin, created.token, created.serverKey.fingerprint)} />
          <p className="muted">
            It prints a verification code; the agent then appears under Agents → Pending, where you compare the code and approve it. Start it with <code>node corral-agent.js run</code>, or
            install the Debian package and its systemd unit (<code>docs/agent-packages.md</code>).
          </p>
          <button type="button" className="button-secondary" onClick={() => setCreated(null)}>
            Done, hide it
          </button>
        </section>
      )}
      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Tokens</h2>
        <ErrorMessage error={listError} />
        <Loadable data={tokens.data} error={tokens.error}>
          {(list) =>
            list.length === 0 ? (
              <Empty>No enrollment tokens yet.</Empty>
            ) : (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Token</th>
                      <th scope="col">State</th>
                      <th scope="col">Uses</th>
                      <th scope="col">Expires</th>
                      <th scope="col">Created</th>
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((t) => (
                      <tr key={t.id}>
                        <td>
                          <code>{t.prefix}…</code>
                          {t.description && <div className="muted">{t.description}</div>}
                        </td>
                        <td>
                          <StatusBadge status={t.state} />
                        </td>
                        <td>
                          {t.uses} of {t.maxUses}
                        </td>
                        <td>
                          <RelativeTime value={t.expiresAt} />
                        </td>
                        <td>
                          <RelativeTime value={t.createdAt} />
                        </td>
                        <td>
                          {t.state === 'active' && (
                            <button type="button" className="button-secondary button-small" onClick={() => void revoke(t)} aria-label={`Revoke token ${t.prefix}`}>
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
      </section>
    </>
  );
}
