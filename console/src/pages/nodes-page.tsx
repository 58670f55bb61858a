import { useState } from 'react';
import { Link } from 'react-router';
import { api, messageOf, withQuery } from '../api/api-client';
import type { ServerNode } from '../api/types';
import { useResource } from '../api/use-resource';
import { ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';

export function NodesPage() {
  const nodes = useResource<ServerNode[]>('/api/v1/nodes', { pollMs: 5_000 });
  // Draining affects every organisation's agents: a platform operator's to do.
  const operator = !!useSession().me?.user.platformOperator;
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);

  const drain = async (node: ServerNode) => {
    setError(null);
    try {
      await api(`/api/v1/nodes/${node.id}/drain`, { method: 'POST' });
      setConfirming(null);
      nodes.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="Nodes" />
      <p className="lead">Control-plane nodes share only PostgreSQL; any node serves any agent. Counts show your organisation’s agents and jobs.</p>
      <ErrorMessage error={error} />
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
                      <StatusBadge status={n.state} />
                      {n.draining && n.state === 'alive' && <StatusBadge status="draining" />}
                    </td>
                    <td>
                      <RelativeTime value={n.startedAt} />
                    </td>
                    <td>
                      <RelativeTime value={n.lastSeenAt} />
                    </td>
                    <td>{n.connectedAgents}</td>
                    <td>{n.runningJobs > 0 ? <Link to={withQuery('/tasks', { nodeId: n.id })}>{n.runningJobs} running</Link> : <span className="muted">0 running</span>}</td>
                    <td>
                      {operator &&
                        n.state === 'alive' &&
                        !n.draining &&
                        (confirming === n.id ? (
                          <span className="confirm">
                            Drain {n.address}? Its agents move to other nodes.{' '}
                            <button type="button" className="button-danger button-small" onClick={() => void drain(n)}>
                              Drain
                            </button>{' '}
                            <button type="button" className="button-secondary button-small" onClick={() => setConfirming(null)}>
                              Keep
                            </button>
                          </span>
                        ) : (
                          <button type="button" className="button-secondary button-small" onClick={() => setConfirming(n.id)} aria-label={`Drain node ${n.address}`}>
                            Drain…
                          </button>
                        ))}
                    </td>
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
