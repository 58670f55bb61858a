import { type FormEvent, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { get, messageOf } from '../api/api-client';
import type { AuditEvent } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';

function TargetLink({ event }: { event: AuditEvent }) {
  if (!event.targetType || !event.targetId) return <span className="muted">—</span>;
  const short = `${event.targetType} ${event.targetId.slice(0, 8)}`;
  if (event.targetType === 'agent') return <Link to={`/agents/${event.targetId}`}>{short}</Link>;
  if (event.targetType === 'task') return <Link to={`/tasks/${event.targetId}`}>{short}</Link>;
  return <span>{short}</span>;
}

function Details({ details }: { details: Record<string, unknown> }) {
  const entries = Object.entries(details).filter(([, v]) => v !== null && v !== undefined);
  if (!entries.length) return null;
  return (
    <dl className="details-list">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>
            <code>{typeof v === 'string' ? v : JSON.stringify(v)}</code>
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function AuditPage() {
  const [params, setParams] = useSearchParams();
  const action = params.get('action') ?? '';
  const first = useResource('/api/v1/audit-events', { query: { action: action || undefined, limit: 50 } });
  const [older, setOlder] = useState<{ forAction: string; items: AuditEvent[]; next: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const more = older?.forAction === action ? older : null;
  const cursor = more ? more.next : first.data?.nextBefore;

  const filter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const value = String(new FormData(e.currentTarget).get('action') ?? '').trim();
    setParams(value ? { action: value } : {}, { replace: true });
  };
  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await get('/api/v1/audit-events', { query: { action: action || undefined, limit: 50, before: cursor } });
      setOlder({ forAction: action, items: [...(more?.items ?? []), ...page.items], next: page.nextBefore });
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <>
      <PageHeader title="Audit log" />
      <form className="filters" onSubmit={filter} aria-label="Filter the audit log">
        <div className="field field-inline">
          <label htmlFor="audit-action">Action</label>
          <input id="audit-action" name="action" defaultValue={action} placeholder="agent.approved" key={action} />
        </div>
        <button type="submit" className="button-secondary">
          Filter
        </button>
        <button type="button" className="button-secondary" onClick={() => first.reload()}>
          Refresh
        </button>
      </form>
      <ErrorMessage error={error} />
      <Loadable data={first.data} error={first.error}>
        {(page) => {
          const items = [...page.items, ...(more?.items ?? [])];
          return items.length === 0 ? (
            <Empty>No events{action ? ` with action ${action}` : ''}.</Empty>
          ) : (
            <>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Who</th>
                      <th scope="col">Action</th>
                      <th scope="col">Target</th>
                      <th scope="col">From</th>
                      <th scope="col">Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((e) => (
                      <tr key={e.id}>
                        <td className="nowrap">
                          <RelativeTime value={e.createdAt} />
                        </td>
                        <td>{e.actorLabel ?? e.actorType}</td>
                        <td>
                          <code>{e.action}</code>
                        </td>
                        <td>
                          <TargetLink event={e} />
                        </td>
                        <td>{e.ip ?? '—'}</td>
                        <td className="details">
                          <Details details={e.details} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {cursor && (
                <button type="button" className="button-secondary" onClick={() => void loadMore()}>
                  Load older events
                </button>
              )}
            </>
          );
        }}
      </Loadable>
    </>
  );
}
