import { type FormEvent, useState } from 'react';
import { Link } from 'react-router';
import { del, messageOf, patch, post } from '../api/api-client';
import { type Environment, roleAtLeast } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';

/** Environments in the order deployments go through them, each with the approved agents in it. */
export function EnvironmentsPage() {
  const { me } = useSession();
  const canEdit = !!me && roleAtLeast(me.role, 'admin');
  const environments = useResource('/api/v1/environments');
  const agents = useResource('/api/v1/agents', { query: { status: 'approved' } });
  const [error, setError] = useState<string | null>(null);
  const [listError, setListError] = useState<string | null>(null);

  const change = async (request: () => Promise<unknown>) => {
    setListError(null);
    try {
      await request();
      environments.reload();
    } catch (err) {
      setListError(messageOf(err));
    }
  };

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setError(null);
    try {
      const description = String(form.get('description') ?? '').trim();
      await post('/api/v1/environments', { body: { name: String(form.get('name') ?? '').trim(), ...(description ? { description } : {}) } });
      formEl.reset();
      environments.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const move = (list: Environment[], at: number, by: -1 | 1) => {
    const ids = list.map((e) => e.id);
    [ids[at], ids[at + by]] = [ids[at + by], ids[at]];
    return change(() => post('/api/v1/environments/order', { body: { ids } }));
  };

  return (
    <>
      <PageHeader title="Environments" />
      <p className="lead">Agents belong to environments; releases go through them in this order unless a lifecycle says otherwise.</p>
      {canEdit && (
        <section className="panel" aria-labelledby="new-env-h">
          <h2 id="new-env-h">New environment</h2>
          <form className="form-grid" onSubmit={(e) => void create(e)} aria-label="New environment">
            <div className="field">
              <label htmlFor="env-name">Name</label>
              <input id="env-name" name="name" required maxLength={100} placeholder="Production" />
            </div>
            <div className="field">
              <label htmlFor="env-description">Description (optional)</label>
              <input id="env-description" name="description" maxLength={1000} />
            </div>
            <ErrorMessage error={error} />
            <div className="form-actions">
              <button type="submit">Create environment</button>
            </div>
          </form>
        </section>
      )}
      <ErrorMessage error={listError} />
      <Loadable data={environments.data} error={environments.error}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No environments yet: create one, then approve agents into it.</Empty>
          ) : (
            <div className="table-wrap">
              <table aria-label="Environments">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Agents</th>
                    <th scope="col">Guided failure</th>
                    {canEdit && (
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {list.map((env, at) => {
                    const inIt = agents.data?.items.filter((a) => a.environments.includes(env.name)) ?? [];
                    return (
                      <tr key={env.id}>
                        <td>
                          <strong>{env.name}</strong>
                          {env.description && <div className="muted">{env.description}</div>}
                        </td>
                        <td>
                          {inIt.length === 0 ? (
                            <span className="muted">none</span>
                          ) : (
                            <ul className="inline-list">
                              {inIt.map((a) => (
                                <li key={a.id}>
                                  <Link to={`/agents/${a.id}`}>{a.name}</Link> <StatusBadge status={a.connection.state} />
                                </li>
                              ))}
                            </ul>
                          )}
                        </td>
                        <td>
                          <label>
                            <input
                              type="checkbox"
                              checked={env.guidedFailure}
                              disabled={!canEdit}
                              onChange={(e) => void change(() => patch('/api/v1/environments/{id}', { params: { path: { id: env.id } }, body: { guidedFailure: e.target.checked } }))}
                            />
                            <span className="visually-hidden">Guided failure in {env.name}</span>
                          </label>
                        </td>
                        {canEdit && (
                          <td className="row-actions">
                            <button type="button" className="button-secondary button-small" disabled={at === 0} onClick={() => void move(list, at, -1)} aria-label={`Move ${env.name} up`}>
                              ↑
                            </button>
                            <button
                              type="button"
                              className="button-secondary button-small"
                              disabled={at === list.length - 1}
                              onClick={() => void move(list, at, 1)}
                              aria-label={`Move ${env.name} down`}
                            >
                              ↓
                            </button>
                            <button
                              type="button"
                              className="button-secondary button-small"
                              onClick={() => void change(() => del('/api/v1/environments/{id}', { params: { path: { id: env.id } } }))}
                              aria-label={`Delete environment ${env.name}`}
                            >
                              Delete
                            </button>
                          </td>
                        )}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </Loadable>
    </>
  );
}
