import { type FormEvent, useState } from 'react';
import { Link, useParams } from 'react-router';
import { messageOf, post } from '../api/api-client';
import type { CreatedRelease, DeploymentSummary, Release } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';
import { DeployDialog } from './deploy-dialog';

export function ProjectsPage() {
  const { can } = useSession();
  const projects = useResource('/api/v1/projects');
  const [error, setError] = useState<string | null>(null);

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formEl = e.currentTarget;
    setError(null);
    try {
      await post('/api/v1/projects', { body: { name: String(new FormData(formEl).get('name') ?? '').trim() } });
      formEl.reset();
      projects.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="Projects" />
      {can('admin') && (
        <section className="panel" aria-labelledby="new-project-h">
          <h2 id="new-project-h">New project</h2>
          <form className="form-grid" onSubmit={(e) => void create(e)} aria-label="New project">
            <div className="field">
              <label htmlFor="project-name">Name</label>
              <input id="project-name" name="name" required maxLength={100} placeholder="Shop" />
            </div>
            <ErrorMessage error={error} />
            <div className="form-actions">
              <button type="submit">Create project</button>
            </div>
          </form>
        </section>
      )}
      <Loadable data={projects.data} error={projects.error}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No projects yet.</Empty>
          ) : (
            <ul className="inline-list" aria-label="Projects">
              {list.map((p) => (
                <li key={p.id}>
                  <Link to={`/projects/${p.id}`}>{p.name}</Link>
                </li>
              ))}
            </ul>
          )
        }
      </Loadable>
    </>
  );
}

/**
 * A project: its releases × environments (the latest deployment of each release in each
 * environment), what the newest release may be promoted to, and the forms that make releases and
 * deployments.
 */
export function ProjectPage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const project = useResource('/api/v1/projects/{id}', { path: { id } });
  const releases = useResource('/api/v1/projects/{id}/releases', { path: { id } });
  const deployments = useResource('/api/v1/deployments', { query: { projectId: id, limit: 200 } });
  const latest = releases.data?.[0];
  const detail = useResource(latest ? '/api/v1/releases/{id}' : null, { path: { id: latest?.id ?? '' } });
  const environments = useResource('/api/v1/environments');
  const [creating, setCreating] = useState(false);
  const [warned, setWarned] = useState<CreatedRelease | null>(null);
  const [snapshotNotice, setSnapshotNotice] = useState<string | null>(null);
  const [snapshotError, setSnapshotError] = useState<string | null>(null);
  const [deploying, setDeploying] = useState<{ release: Release; environment: string } | null>(null);

  // Newest first from the API: the first seen per release and environment is the latest.
  const latestIn = new Map<string, DeploymentSummary>();
  for (const d of deployments.data ?? []) if (!latestIn.has(`${d.release.id}:${d.environment.id}`)) latestIn.set(`${d.release.id}:${d.environment.id}`, d);
  const envs = environments.data ?? [];

  // A release keeps the variables it was made with until it takes them again.
  const updateVariables = async (r: Release) => {
    setSnapshotNotice(null);
    setSnapshotError(null);
    try {
      const updated = await post('/api/v1/releases/{id}/update-variables', { params: { path: { id: r.id } } });
      setWarned(updated.warnings.length ? updated : null);
      setSnapshotNotice(`Release ${r.version} now has the project's current variables.`);
    } catch (err) {
      setSnapshotError(messageOf(err));
    }
  };

  return (
    <Loadable data={project.data} error={project.error}>
      {(p) => (
        <>
          <p className="breadcrumb">
            <Link to="/projects">Projects</Link> /
          </p>
          <PageHeader title={p.name}>
            <Link className="button button-secondary" to={`/projects/${p.id}/process`}>
              {can('admin') ? 'Edit process' : 'Process'}
            </Link>
            <Link className="button button-secondary" to={`/projects/${p.id}/variables`}>
              Variables
            </Link>
            {can('operator') && !creating && (
              <button type="button" onClick={() => setCreating(true)}>
                Create release
              </button>
            )}
          </PageHeader>
          {creating && (
            <ReleaseForm
              projectId={p.id}
              onDone={(created) => {
                setCreating(false);
                setWarned(created && created.warnings.length > 0 ? created : null);
                if (created) releases.reload();
              }}
            />
          )}
          {warned && (
            <section className="warning warning-panel" aria-labelledby="release-warnings-h">
              <h2 id="release-warnings-h">Release {warned.version} was created with warnings</h2>
              <ul className="problem-list" aria-label={`Warnings of release ${warned.version}`}>
                {warned.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
              <p className="small">
                A deployment whose step would run with a name that is not defined is refused. <Link to={`/projects/${p.id}/variables`}>Define the variables</Link>, then create a new release (or
                update the variables of this one).
              </p>
              <button type="button" className="button-secondary button-small" onClick={() => setWarned(null)}>
                Dismiss
              </button>
            </section>
          )}
          {latest && detail.data && (
            <section className="panel" aria-labelledby="deploy-h">
              <h2 id="deploy-h">Deploy {latest.version}</h2>
              {detail.data.progress.next.length > 0 && <p className="muted">Next in its lifecycle: {detail.data.progress.next.map((e) => e.name).join(', ')}.</p>}
              <ul className="inline-list">
                {envs.map((env) => {
                  const allowed = detail.data!.progress.allowed.some((a) => a.id === env.id);
                  const deployed = detail.data!.deployments.some((d) => d.environment.id === env.id);
                  return (
                    <li key={env.id}>
                      <button
                        type="button"
                        disabled={!allowed || !can('operator')}
                        onClick={() => setDeploying({ release: latest, environment: env.name })}
                        title={allowed ? undefined : 'its lifecycle does not allow this yet'}
                      >
                        {deployed ? `Redeploy to ${env.name}` : `Deploy to ${env.name}`}
                      </button>
                    </li>
                  );
                })}
              </ul>
            </section>
          )}
          <section className="panel" aria-labelledby="releases-h">
            <h2 id="releases-h">Releases</h2>
            <ErrorMessage error={snapshotError} />
            {snapshotNotice && (
              <p className="notice" role="status">
                {snapshotNotice}
              </p>
            )}
            <Loadable data={releases.data} error={releases.error}>
              {(list) =>
                list.length === 0 ? (
                  <Empty>
                    No releases yet: <Link to={`/projects/${p.id}/process`}>define the process</Link>, then create one.
                  </Empty>
                ) : (
                  <table aria-label="Releases">
                    <thead>
                      <tr>
                        <th scope="col">Version</th>
                        {envs.map((env) => (
                          <th key={env.id} scope="col">
                            {env.name}
                          </th>
                        ))}
                        <th scope="col">Created</th>
                        <th scope="col">
                          <span className="visually-hidden">Actions</span>
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((r) => (
                        <tr key={r.id}>
                          <td title={r.notes || undefined}>
                            {r.version}
                            {r.notes && <div className="muted small">{r.notes}</div>}
                          </td>
                          {envs.map((env) => {
                            const d = latestIn.get(`${r.id}:${env.id}`);
                            return (
                              <td key={env.id} aria-label={`${r.version} in ${env.name}`}>
                                {d ? (
                                  <Link to={`/deployments/${d.id}`}>
                                    <StatusBadge status={d.state} />
                                  </Link>
                                ) : (
                                  <span className="muted">–</span>
                                )}
                              </td>
                            );
                          })}
                          <td>
                            <RelativeTime value={r.createdAt} /> by {r.createdBy}, process version {r.processVersion}
                          </td>
                          <td>
                            {can('operator') && envs.length > 0 && (
                              <button
                                type="button"
                                className="button-secondary button-small"
                                onClick={() => setDeploying({ release: r, environment: (r.id === latest?.id && detail.data?.progress.allowed[0]?.name) || envs[0].name })}
                              >
                                Deploy {r.version}…
                              </button>
                            )}{' '}
                            {can('operator') && (
                              <button
                                type="button"
                                className="button-secondary button-small"
                                onClick={() => void updateVariables(r)}
                                aria-label={`Update variables of ${r.version}`}
                                title="Take the project's current variables (and its sets') instead of those it was made with"
                              >
                                Update variables
                              </button>
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )
              }
            </Loadable>
          </section>
          {deploying && <DeployDialog release={deploying.release} environment={deploying.environment} environments={envs} onClose={() => setDeploying(null)} />}
        </>
      )}
    </Loadable>
  );
}

/** Version (the next one when left empty) and notes of a new release of the project's current process; `onDone` gets the release made, if any. */
function ReleaseForm({ projectId, onDone }: { projectId: string; onDone: (created?: CreatedRelease) => void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const version = String(form.get('version') ?? '').trim();
    const notes = String(form.get('notes') ?? '').trim();
    setError(null);
    try {
      onDone(await post('/api/v1/projects/{id}/releases', { params: { path: { id: projectId } }, body: { ...(version ? { version } : {}), ...(notes ? { notes } : {}) } }));
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section className="panel" aria-labelledby="new-release-h">
      <h2 id="new-release-h">New release</h2>
      <form onSubmit={(e) => void submit(e)} aria-label="New release">
        <div className="form-grid">
          <div className="field">
            <label htmlFor="release-version">Version (the next one when empty)</label>
            <input id="release-version" name="version" maxLength={100} placeholder="1.0.0" />
          </div>
          <div className="field">
            <label htmlFor="release-notes">Notes</label>
            <textarea id="release-notes" name="notes" rows={3} maxLength={10000} />
          </div>
        </div>
        <ErrorMessage error={error} />
        <div className="form-actions">
          <button type="button" className="button-secondary" onClick={() => onDone()}>
            Cancel
          </button>
          <button type="submit">Create this release</button>
        </div>
      </form>
    </section>
  );
}
