import { Link } from 'react-router';
import { withQuery } from '../api/api-client';
import { useResource } from '../api/use-resource';
import { Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { DrainControl, NodeState } from '../components/server-node';
import { useSession } from '../session/session-context';

export function NodesPage() {
  const nodes = useResource('/api/v1/nodes', {}, { pollMs: 5_000 });
  // Draining affects every organisation's agents: a platform operator's to do.
  const operator = !!useSession().me?.user.platformOperator;
  return (
    <>
      <PageHeader title="Nodes" />
      <p className="lead">Control-plane nodes share only PostgreSQL; any node serves any agent. Counts show your organisation’s agents and jobs.</p>
      <Loadable data={nodes.data} error={nodes.error}>
        {(list) => (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                  <th scope="col">Started</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Connected agents</th>
                  <th scope="col">Running jobs</th>
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
                      {n.self && <div className="small muted">serving this page</div>}
                    </td>
                    <td>
                      <NodeState node={n} />
                    </td>
                    <td>
                      <RelativeTime value={n.startedAt} />
                    </td>
                    <td>
                      <RelativeTime value={n.lastSeenAt} />
                    </td>
                    <td>{n.connectedAgents}</td>
                    <td>{n.runningJobs > 0 ? <Link to={withQuery('/tasks', { nodeId: n.id })}>{n.runningJobs} running</Link> : <span className="muted">0 running</span>}</td>
                    <td>{operator && <DrainControl node={n} onChanged={nodes.reload} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loadable>
    </>
  );
}
