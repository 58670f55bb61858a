import { type FormEvent, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { api, messageOf } from '../api/api-client';
import type { DeploymentSummary, Environment, Project, Release, ReleaseDetail } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';

export function ProjectsPage() {
  const { can } = useSession();
  const projects = useResource<Project[]>('/api/v1/projects');
  const [error, setError] = useState<string | null>(null);

  const create = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formEl = e.currentTarget;
    setError(null);
    try {
      await api('/api/v1/projects', { method: 'POST', body: { name: String(new FormData(formEl).get('name') ?? '').trim() } });
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

/** A project's releases, and for the newest one, a deploy button per environment its lifecycle allows. */
export function ProjectPage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const navigate = useNavigate();
  const project = useResource<Project>(`/api/v1/projects/${id}`);
  const releases = useResource<Release[]>(`/api/v1/projects/${id}/releases`);
  const latest = releases.data?.[0];
  const detail = useResource<ReleaseDetail>(latest ? `/api/v1/releases/${latest.id}` : null);
  const environments = useResource<Environment[]>('/api/v1/environments');
  const [error, setError] = useState<string | null>(null);
  const [guided, setGuided] = useState(false);

  const createRelease = async () => {
    setError(null);
    try {
      await api(`/api/v1/projects/${id}/releases`, { method: 'POST', body: {} });
      releases.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const deploy = async (release: Release, environment: string) => {
    setError(null);
    try {
      const d = await api<DeploymentSummary>(`/api/v1/releases/${release.id}/deployments`, { method: 'POST', body: { environment, guidedFailure: guided || undefined } });
      void navigate(`/deployments/${d.id}`);
    } catch (err) {
      setError(messageOf(err));
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
            {can('operator') && (
              <button type="button" onClick={() => void createRelease()}>
                Create release
              </button>
            )}
          </PageHeader>
          <ErrorMessage error={error} />
          {latest && detail.data && (
            <section className="panel" aria-labelledby="deploy-h">
              <h2 id="deploy-h">Deploy {latest.version}</h2>
              <label>
                <input type="checkbox" checked={guided} onChange={(e) => setGuided(e.target.checked)} /> Guided failure: pause on a failure instead of failing
              </label>
              <ul className="inline-list">
                {(environments.data ?? []).map((env) => {
                  const allowed = detail.data!.progress.allowed.some((a) => a.id === env.id);
                  const deployed = detail.data!.deployments.some((d) => d.environment.id === env.id);
                  return (
                    <li key={env.id}>
                      <button
                        type="button"
                        disabled={!allowed || !can('operator')}
                        onClick={() => void deploy(latest, env.name)}
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
            <Loadable data={releases.data} error={releases.error}>
              {(list) =>
                list.length === 0 ? (
                  <Empty>No releases yet: define the process (PUT /api/v1/projects/{p.id}/process), then create one.</Empty>
                ) : (
                  <table aria-label="Releases">
                    <thead>
                      <tr>
                        <th scope="col">Version</th>
                        <th scope="col">Process version</th>
                        <th scope="col">Created</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((r) => (
                        <tr key={r.id}>
                          <td>{r.version}</td>
                          <td>{r.processVersion}</td>
                          <td>
                            <RelativeTime value={r.createdAt} /> by {r.createdBy}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )
              }
            </Loadable>
          </section>
          {detail.data && detail.data.deployments.length > 0 && (
            <section className="panel" aria-labelledby="where-h">
              <h2 id="where-h">Where {latest?.version} is</h2>
              <ul className="inline-list">
                {detail.data.deployments.map((d) => (
                  <li key={d.id}>
                    <Link to={`/deployments/${d.id}`}>{d.environment.name}</Link> <StatusBadge status={d.state} />
                  </li>
                ))}
              </ul>
            </section>
          )}
        </>
      )}
    </Loadable>
  );
}
