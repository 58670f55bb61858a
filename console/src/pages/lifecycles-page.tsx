import { type FormEvent, useState } from 'react';
import { del, messageOf, patch, post } from '../api/api-client';
import type { Environment, Lifecycle } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { useSession } from '../session/session-context';

interface PhaseDraft {
  name: string;
  environments: string[];
  minSuccessful: string;
  optional: boolean;
  autoDeploy: string[];
}

const emptyPhase = (): PhaseDraft => ({ name: '', environments: [], minSuccessful: '', optional: false, autoDeploy: [] });

function draftOf(l: Lifecycle): PhaseDraft[] {
  return l.phases.map((p) => ({
    name: p.name,
    environments: p.environments.map((e) => e.id),
    minSuccessful: p.minSuccessful === null ? '' : String(p.minSuccessful),
    optional: p.optional,
    autoDeploy: p.autoDeploy.map((e) => e.id),
  }));
}

/** Lifecycles: the phases a release goes through, and the form that makes or changes one. */
export function LifecyclesPage() {
  const { can } = useSession();
  const lifecycles = useResource('/api/v1/lifecycles');
  const environments = useResource('/api/v1/environments');
  const [editing, setEditing] = useState<Lifecycle | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);

  const remove = async (l: Lifecycle) => {
    setError(null);
    try {
      await del('/api/v1/lifecycles/{id}', { params: { path: { id: l.id } } });
      lifecycles.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="Lifecycles">
        {can('admin') && editing === null && (
          <button type="button" onClick={() => setEditing('new')}>
            New lifecycle
          </button>
        )}
      </PageHeader>
      <p className="lead">
        A release goes through its project&apos;s lifecycle phase by phase: a phase opens when the one before it has succeeded in all of its environments, or in as many as it asks for.
      </p>
      {editing !== null && environments.data && (
        <LifecycleForm
          key={editing === 'new' ? 'new' : editing.id}
          lifecycle={editing === 'new' ? null : editing}
          environments={environments.data}
          onDone={() => {
            setEditing(null);
            lifecycles.reload();
          }}
        />
      )}
      <ErrorMessage error={error} />
      <Loadable data={lifecycles.data} error={lifecycles.error}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No lifecycles yet.</Empty>
          ) : (
            <ul className="cards" aria-label="Lifecycles">
              {list.map((l) => (
                <li key={l.id} className="panel" aria-label={`Lifecycle ${l.name}`}>
                  <h2>
                    {l.name} {l.isDefault && <span className="muted small">(default)</span>}
                  </h2>
                  {l.description && <p>{l.description}</p>}
                  {l.followsEnvironmentOrder && <p className="muted">One phase per environment, in the environments&apos; order.</p>}
                  <ol aria-label={`Phases of ${l.name}`}>
                    {l.phases.map((p) => (
                      <li key={p.name}>
                        <strong>{p.name}</strong>: {p.environments.map((e) => e.name).join(', ')}
                        {p.minSuccessful !== null && `; ${p.minSuccessful} must succeed`}
                        {p.optional && '; optional'}
                        {p.autoDeploy.length > 0 && `; deploys to ${p.autoDeploy.map((e) => e.name).join(', ')} automatically`}
                      </li>
                    ))}
                  </ol>
                  {can('admin') && (
                    <div className="form-actions">
                      <button type="button" className="button-secondary" onClick={() => setEditing(l)}>
                        Edit {l.name}
                      </button>
                      {!l.isDefault && (
                        <button type="button" className="button-danger" onClick={() => void remove(l)}>
                          Delete {l.name}
                        </button>
                      )}
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Loadable>
    </>
  );
}

function LifecycleForm({ lifecycle, environments, onDone }: { lifecycle: Lifecycle | null; environments: Environment[]; onDone: () => void }) {
  const [name, setName] = useState(lifecycle?.name ?? '');
  const [description, setDescription] = useState(lifecycle?.description ?? '');
  const [phases, setPhases] = useState<PhaseDraft[]>(lifecycle ? draftOf(lifecycle) : [emptyPhase()]);
  const [error, setError] = useState<string | null>(null);

  const change = (at: number, patch: Partial<PhaseDraft>) => setPhases((list) => list.map((p, i) => (i === at ? { ...p, ...patch } : p)));
  const toggle = (list: string[], id: string, on: boolean) => (on ? [...list, id] : list.filter((x) => x !== id));

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const body = {
      name: name.trim(),
      description: description.trim(),
      phases: phases.map((p) => ({
        name: p.name.trim(),
        environments: p.environments,
        ...(p.minSuccessful ? { minSuccessful: Number(p.minSuccessful) } : {}),
        optional: p.optional,
        autoDeploy: p.autoDeploy.filter((id) => p.environments.includes(id)),
      })),
    };
    try {
      await (lifecycle ? patch('/api/v1/lifecycles/{id}', { params: { path: { id: lifecycle.id } }, body }) : post('/api/v1/lifecycles', { body }));
      onDone();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <section className="panel" aria-labelledby="lifecycle-form-h">
      <h2 id="lifecycle-form-h">{lifecycle ? `Edit ${lifecycle.name}` : 'New lifecycle'}</h2>
      <form onSubmit={(e) => void save(e)} aria-label={lifecycle ? `Edit ${lifecycle.name}` : 'New lifecycle'}>
        <div className="form-grid">
          <div className="field">
            <label htmlFor="lifecycle-name">Name</label>
            <input id="lifecycle-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
          </div>
          <div className="field">
            <label htmlFor="lifecycle-description">Description</label>
            <input id="lifecycle-description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={1000} />
          </div>
        </div>
        <ol className="phases">
          {phases.map((p, at) => (
            <li key={at}>
              <fieldset aria-label={`Phase ${at + 1}`}>
                <legend>Phase {at + 1}</legend>
                <div className="field">
                  <label htmlFor={`phase-${at}-name`}>Phase name</label>
                  <input id={`phase-${at}-name`} value={p.name} onChange={(e) => change(at, { name: e.target.value })} required maxLength={100} />
                </div>
                <table aria-label={`Environments of phase ${at + 1}`}>
                  <thead>
                    <tr>
                      <th scope="col">Environment</th>
                      <th scope="col">In this phase</th>
                      <th scope="col">Deploy automatically</th>
                    </tr>
                  </thead>
                  <tbody>
                    {environments.map((env) => (
                      <tr key={env.id}>
                        <td>{env.name}</td>
                        <td>
                          <input
                            type="checkbox"
                            aria-label={`${env.name} in phase ${at + 1}`}
                            checked={p.environments.includes(env.id)}
                            onChange={(e) => change(at, { environments: toggle(p.environments, env.id, e.target.checked) })}
                          />
                        </td>
                        <td>
                          <input
                            type="checkbox"
                            aria-label={`Deploy to ${env.name} automatically`}
                            disabled={!p.environments.includes(env.id)}
                            checked={p.autoDeploy.includes(env.id) && p.environments.includes(env.id)}
                            onChange={(e) => change(at, { autoDeploy: toggle(p.autoDeploy, env.id, e.target.checked) })}
                          />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <div className="form-grid">
                  <div className="field">
                    <label htmlFor={`phase-${at}-min`}>Successes needed (all when empty)</label>
                    <input id={`phase-${at}-min`} type="number" min={1} value={p.minSuccessful} onChange={(e) => change(at, { minSuccessful: e.target.value })} />
                  </div>
                  <label>
                    <input type="checkbox" checked={p.optional} onChange={(e) => change(at, { optional: e.target.checked })} /> Optional: never blocks the next phase
                  </label>
                </div>
                {phases.length > 1 && (
                  <button type="button" className="button-secondary button-small" onClick={() => setPhases((list) => list.filter((_, i) => i !== at))}>
                    Remove phase {at + 1}
                  </button>
                )}
              </fieldset>
            </li>
          ))}
        </ol>
        <ErrorMessage error={error} />
        <div className="form-actions">
          <button type="button" className="button-secondary" onClick={() => setPhases((list) => [...list, emptyPhase()])}>
            Add a phase
          </button>
          <button type="button" className="button-secondary" onClick={onDone}>
            Cancel
          </button>
          <button type="submit">Save lifecycle</button>
        </div>
      </form>
    </section>
  );
}
