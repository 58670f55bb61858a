import { Link } from 'react-router';
import { useResource } from '../api/use-resource';
import { Empty, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';

/** What is deployed where: every project × environment, its latest deployment. */
export function DashboardPage() {
  const dashboard = useResource('/api/v1/dashboard', {}, { pollMs: 5_000 });
  return (
    <>
      <PageHeader title="Dashboard" />
      <Loadable data={dashboard.data} error={dashboard.error}>
        {(d) =>
          d.projects.length === 0 ? (
            <Empty>
              No projects yet: create <Link to="/environments">environments</Link>, approve <Link to="/agents">agents</Link> into them, then create a <Link to="/projects">project</Link>.
            </Empty>
          ) : (
            <div className="table-wrap">
              <table aria-label="Deployments by project and environment">
                <thead>
                  <tr>
                    <th scope="col">Project</th>
                    {d.environments.map((e) => (
                      <th scope="col" key={e.id}>
                        {e.name}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {d.projects.map((p) => (
                    <tr key={p.id}>
                      <th scope="row">
                        <Link to={`/projects/${p.id}`}>{p.name}</Link>
                      </th>
                      {d.environments.map((e) => {
                        const latest = p.deployments[e.id];
                        return (
                          <td key={e.id} aria-label={`${p.name} in ${e.name}`}>
                            {latest ? (
                              <Link to={`/deployments/${latest.id}`}>
                                {latest.release.version} <StatusBadge status={latest.state} />
                                <div className="muted">
                                  <RelativeTime value={latest.createdAt} /> by {latest.createdBy}
                                </div>
                              </Link>
                            ) : (
                              <span className="muted">—</span>
                            )}
                          </td>
                        );
                      })}
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
