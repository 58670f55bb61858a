import { type FormEvent, useState } from 'react';
import { Link, useParams } from 'react-router';
import { del, messageOf, patch, post } from '../api/api-client';
import type { VariableSet } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { useSession } from '../session/session-context';
import { VariablesEditor } from './variables-editor';

/** Library variable sets: values several projects share. Made, renamed and deleted here; each edited on its own page. */
export function VariableSetsPage() {
  const { can } = useSession();
  const editable = can('admin');
  const sets = useResource('/api/v1/variable-sets');
  const [error, setError] = useState<string | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    setError(null);
    try {
      const description = String(form.get('description') ?? '').trim();
      await post('/api/v1/variable-sets', { body: { name: String(form.get('name') ?? '').trim(), ...(description ? { description } : {}) } });
      formEl.reset();
      sets.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const change = async (request: () => Promise<unknown>) => {
    setListError(null);
    try {
      await request();
      setRenaming(null);
      sets.reload();
    } catch (err) {
      setListError(messageOf(err));
    }
  };

  const rename = (e: FormEvent<HTMLFormElement>, set: VariableSet) => {
    e.preventDefault();
    const name = String(new FormData(e.currentTarget).get('name') ?? '').trim();
    void change(() => patch('/api/v1/variable-sets/{id}', { params: { path: { id: set.id } }, body: { name } }));
  };

  return (
    <>
      <PageHeader title="Variable sets" />
      <p className="lead">A library variable set holds values that several projects use. A project includes sets in an order; its own values win over theirs on the same scope.</p>
      {editable && (
        <section className="panel" aria-labelledby="new-set-h">
          <h2 id="new-set-h">New variable set</h2>
          <form className="form-grid" onSubmit={(e) => void create(e)} aria-label="New variable set">
            <div className="field">
              <label htmlFor="set-name">Name</label>
              <input id="set-name" name="name" required maxLength={100} placeholder="Common" />
            </div>
            <div className="field">
              <label htmlFor="set-description">Description (optional)</label>
              <input id="set-description" name="description" maxLength={2000} />
            </div>
            <ErrorMessage error={error} />
            <div className="form-actions">
              <button type="submit">Create variable set</button>
            </div>
          </form>
        </section>
      )}
      <ErrorMessage error={listError} />
      <Loadable data={sets.data} error={sets.error}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No variable sets yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table aria-label="Variable sets">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Description</th>
                    {editable && (
                      <th scope="col">
                        <span className="visually-hidden">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {list.map((set) => (
                    <tr key={set.id}>
                      <td>
                        {renaming === set.id ? (
                          <form className="field-inline" onSubmit={(e) => rename(e, set)} aria-label={`Rename ${set.name}`}>
                            <input name="name" defaultValue={set.name} required maxLength={100} aria-label={`New name of ${set.name}`} autoFocus />
                            <button type="submit" className="button-small">
                              Save
                            </button>
                            <button type="button" className="button-secondary button-small" onClick={() => setRenaming(null)}>
                              Cancel
                            </button>
                          </form>
                        ) : (
                          <Link to={`/variable-sets/${set.id}`}>{set.name}</Link>
                        )}
                      </td>
                      <td>{set.description || <span className="muted">–</span>}</td>
                      {editable && (
                        <td className="row-actions">
                          <button type="button" className="button-secondary button-small" onClick={() => setRenaming(set.id)} aria-label={`Rename variable set ${set.name}`}>
                            Rename
                          </button>{' '}
                          <button
                            type="button"
                            className="button-secondary button-small"
                            onClick={() => void change(() => del('/api/v1/variable-sets/{id}', { params: { path: { id: set.id } } }))}
                            aria-label={`Delete variable set ${set.name}`}
                          >
                            Delete
                          </button>
                        </td>
                      )}
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

/** One library set: its values, with the same editor as a project's. */
export function VariableSetPage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const set = useResource('/api/v1/variable-sets/{id}', { path: { id } });
  return (
    <Loadable data={set.data} error={set.error}>
      {(s) => (
        <>
          <p className="breadcrumb">
            <Link to="/variable-sets">Variable sets</Link> /
          </p>
          <PageHeader title={s.name} />
          {s.description && <p className="lead">{s.description}</p>}
          <section className="panel" aria-labelledby="set-values-h">
            <h2 id="set-values-h">Values</h2>
            <VariablesEditor path="/api/v1/variable-sets/{id}/variables" id={s.id} editable={can('admin')} />
          </section>
        </>
      )}
    </Loadable>
  );
}
