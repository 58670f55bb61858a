import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { get, messageOf } from '../api/api-client';
import { type Task, TASK_STATES, type TaskState } from '../api/types';
import { useNow } from '../api/use-now';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { formatDuration, RelativeTime } from '../components/relative-time';
import { labelOf, StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';
import { describeTaskKind } from './task-kind';

export function TasksPage() {
  const [params, setParams] = useSearchParams();
  const state = params.get('state') ?? '';
  const nodeId = params.get('nodeId') ?? '';
  const agentId = params.get('agentId') ?? '';
  // The server refuses a state it does not know; an empty filter is none.
  const query = { state: (state || undefined) as TaskState | undefined, nodeId: nodeId || undefined, agentId: agentId || undefined, limit: 50 };
  const filter = JSON.stringify(query);
  const first = useResource('/api/v1/tasks', { query }, { pollMs: 5_000 });
  const nodes = useResource(nodeId ? '/api/v1/nodes' : null);
  const node = nodes.data?.find((n) => n.id === nodeId);
  const { can } = useSession();
  const now = useNow();
  // Older pages, loaded on demand below the first (which keeps refreshing); kept per filter.
  const [olderPages, setOlderPages] = useState<{ forFilter: string; items: Task[]; next: string | null } | null>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const more = olderPages?.forFilter === filter ? olderPages : null;
  const older = more?.items ?? [];

  const setFilter = (key: string, value: string) => {
    const nextParams = new URLSearchParams(params);
    if (value) nextParams.set(key, value);
    else nextParams.delete(key);
    setParams(nextParams, { replace: true });
  };
  const cursor = more ? more.next : first.data?.nextBefore;
  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await get('/api/v1/tasks', { query: { ...query, before: cursor } });
      setOlderPages({ forFilter: filter, items: [...older, ...page.items], next: page.nextBefore });
    } catch (err) {
      setMoreError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title={nodeId ? `Running on node ${node ? node.address : nodeId.slice(0, 8)}` : 'Tasks'}>
        {can('operator') && (
          <Link className="button" to="/run">
            Run a script…
          </Link>
        )}
      </PageHeader>
      <div className="filters">
        <div className="field field-inline">
          <label htmlFor="state-filter">State</label>
          <select id="state-filter" value={state} onChange={(e) => setFilter('state', e.target.value)}>
            <option value="">any</option>
            {TASK_STATES.map((s) => (
              <option key={s} value={s}>
                {labelOf(s)}
              </option>
            ))}
          </select>
        </div>
        {nodeId && (
          <span className="chip">
            Jobs running on an agent connected to node {node?.address ?? nodeId}{' '}
            <button type="button" className="button-link" onClick={() => setFilter('nodeId', '')}>
              Show all tasks
            </button>
          </span>
        )}
        {agentId && (
          <span className="chip">
            One agent’s tasks{' '}
            <button type="button" className="button-link" onClick={() => setFilter('agentId', '')}>
              Show all tasks
            </button>
          </span>
        )}
      </div>
      <Loadable data={first.data} error={first.error}>
        {(page) => {
          const items = [...page.items, ...older.filter((t) => !page.items.some((p) => p.id === t.id))];
          return items.length === 0 ? (
            <Empty>{state || nodeId || agentId ? 'No task matches.' : 'No tasks yet. Run a script on an approved agent to see it here.'}</Empty>
          ) : (
            <>
              <TaskTable tasks={items} now={now} />
              <ErrorMessage error={moreError} />
              {cursor && (
                <button type="button" className="button-secondary" onClick={() => void loadMore()}>
                  Load older tasks
                </button>
              )}
            </>
          );
        }}
      </Loadable>
    </>
  );
}

export function TaskTable({ tasks, now }: { tasks: Task[]; now: number }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">State</th>
            <th scope="col">Agents</th>
            <th scope="col">Created</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.id}>
              <td>
                <Link to={`/tasks/${t.id}`}>{t.name}</Link>
                <div className="muted small">
                  {describeTaskKind(t)} by {t.createdBy}
                </div>
              </td>
              <td>
                <StatusBadge status={t.state} />
                {t.waitingFor && <div className="small muted">waiting for {t.waitingFor.taskName}</div>}
              </td>
              <td>{t.jobs.map((j) => j.agentName).join(', ')}</td>
              <td>
                <RelativeTime value={t.createdAt} />
              </td>
              <td>{t.startedAt ? formatDuration((t.finishedAt ? Date.parse(t.finishedAt) : now) - Date.parse(t.startedAt)) : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
