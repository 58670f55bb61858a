import { type FormEvent, useState } from 'react';
import { messageOf, patch } from '../api/api-client';
import type { OrganizationLimits, PlatformOrganization } from '../api/types';
import { useResource } from '../api/use-resource';
import { ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { DrainControl, NodeState } from '../components/server-node';
import { LIMIT_LABELS } from './limit-labels';

/** What a platform operator runs: every node with every organisation's work on it, and each organisation's limits. */
export function PlatformPage() {
  const nodes = useResource('/api/v1/platform/nodes', {}, { pollMs: 5_000 });
  const organizations = useResource('/api/v1/platform/organizations');
  const [editing, setEditing] = useState<string | null>(null);

  return (
    <>
      <PageHeader title="Platform" />
      <p className="lead">What this control plane serves, for every organisation on it. Only platform operators see this page.</p>
      <section aria-labelledby="cluster-heading">
        <h2 id="cluster-heading">Nodes</h2>
        <Loadable data={nodes.data} error={nodes.error}>
          {(list) => (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Node</th>
                    <th scope="col">State</th>
                    <th scope="col">Organisations’ work</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((n) => (
                    <tr key={n.id}>
                      <td>
                        {n.address} <span className="muted small">pid {n.pid}</span>
                        <div className="small muted">
                          last seen <RelativeTime value={n.lastSeenAt} />
                        </div>
                      </td>
                      <td>
                        <NodeState node={n} />
                      </td>
                      <td>
                        {n.organizations.length ? (
                          <ul className="plain-list" aria-label={`Work on ${n.address}`}>
                            {n.organizations.map((o) => (
                              <li key={o.organizationId}>
                                {o.name}: {o.connectedAgents} {o.connectedAgents === 1 ? 'agent' : 'agents'}, {o.runningJobs} running
                              </li>
                            ))}
                          </ul>
                        ) : (
                          <span className="muted">nothing</span>
                        )}
                      </td>
                      <td>
                        <DrainControl node={n} onChanged={nodes.reload} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Loadable>
      </section>
      <section aria-labelledby="organizations-heading">
        <h2 id="organizations-heading">Organisations and their limits</h2>
        <Loadable data={organizations.data} error={organizations.error}>
          {(list) => (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Organisation</th>
                    {LIMIT_LABELS.map(([name, label]) => (
                      <th scope="col" key={name}>
                        {label}
                      </th>
                    ))}
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((o) =>
                    editing === o.organizationId ? (
                      <tr key={o.organizationId}>
                        <td colSpan={LIMIT_LABELS.length + 2}>
                          <LimitsForm
                            organization={o}
                            onDone={() => {
                              setEditing(null);
                              organizations.reload();
                            }}
                          />
                        </td>
                      </tr>
                    ) : (
                      <tr key={o.organizationId}>
                        <td>
                          {o.name} <span className="muted small">{o.slug}</span>
                        </td>
                        {LIMIT_LABELS.map(([name]) => (
                          <td key={name}>
                            {o.limits[name].toLocaleString('en')}
                            {o.own[name] === undefined ? <span className="muted small"> default</span> : <strong className="small"> own</strong>}
                          </td>
                        ))}
                        <td>
                          <button type="button" className="button-secondary button-small" onClick={() => setEditing(o.organizationId)} aria-label={`Edit the limits of ${o.name}`}>
                            Edit…
                          </button>
                        </td>
                      </tr>
                    ),
                  )}
                </tbody>
              </table>
            </div>
          )}
        </Loadable>
      </section>
    </>
  );
}

/** An organisation's own limits: a number sets one, an empty field goes back to the default. */
function LimitsForm({ organization, onDone }: { organization: PlatformOrganization; onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const save = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const changes: Partial<Record<keyof OrganizationLimits, number | null>> = {};
    for (const [name] of LIMIT_LABELS) {
      const text = String(form.get(name) ?? '').trim();
      changes[name] = text === '' ? null : Number(text);
    }
    setError(null);
    try {
      await patch('/api/v1/platform/organizations/{id}/limits', { params: { path: { id: organization.organizationId } }, body: changes });
      onDone();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <form className="form-grid" onSubmit={(e) => void save(e)} aria-label={`Limits of ${organization.name}`}>
      <p className="field-wide">
        Limits of <strong>{organization.name}</strong>. Leave a field empty for the default.
      </p>
      {LIMIT_LABELS.map(([name, label, unit]) => (
        <div className="field" key={name}>
          <label htmlFor={`limit-${name}`}>
            {label}
            {unit && ` (${unit})`}
          </label>
          <input id={`limit-${name}`} name={name} type="number" inputMode="numeric" defaultValue={organization.own[name] ?? ''} placeholder={`default ${organization.defaults[name]}`} />
        </div>
      ))}
      <ErrorMessage error={error} />
      <div className="form-actions">
        <button type="submit">Save limits</button>
        <button type="button" className="button-secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
