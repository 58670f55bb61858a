import { useCallback, useState } from 'react';
import { Link, useParams } from 'react-router';
import { withQuery } from '../api/api-client';
import { useResource } from '../api/use-resource';
import { Empty, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';
import { AgentLabelsDialog, ApproveAgentDialog, DecideAgentDialog } from './agent-decision-dialogs';
import { AgentHealthSection } from './agent-health-section';
import { useReloadOnAgentChange } from './agents-page';

const ACTION_LABELS: Record<string, string> = {
  'agent.enrolled': 'Enrolled',
  'agent.approved': 'Approved',
  'agent.approval_refused': 'Approval refused (code did not match)',
  'agent.rejected': 'Rejected',
  'agent.revoked': 'Revoked',
  'agent.deleted': 'Deleted',
  'agent.policy_changed': 'Local policy changed (reported by the agent)',
};

export function AgentDetailPage() {
  const { id = '' } = useParams();
  const agent = useResource('/api/v1/agents/{id}', { path: { id } }, { pollMs: 5_000 });
  const { can } = useSession();
  const history = useResource(can('admin') ? '/api/v1/audit-events' : null, { query: { targetId: id, limit: 50 } });
  const jobs = useResource('/api/v1/tasks', { query: { agentId: id, limit: 20 } }, { pollMs: 5_000 });
  const reloadAll = useCallback(() => {
    agent.reload();
    history.reload();
  }, [agent, history]);
  useReloadOnAgentChange(
    reloadAll,
    useCallback((agentId: string) => agentId === id, [id]),
  );
  const [dialog, setDialog] = useState<'approve' | 'reject' | 'revoke' | 'labels' | null>(null);

  return (
    <Loadable data={agent.data} error={agent.error}>
      {(a) => (
        <>
          <p className="breadcrumb">
            <Link to={`/agents?status=${a.status}`}>Agents</Link> /
          </p>
          <PageHeader
            title={
              <>
                {a.name} <StatusBadge status={a.status} />
              </>
            }
          >
            {a.status === 'approved' && can('operator') && (
              <Link className="button button-secondary" to={withQuery('/run', { agentId: a.id })}>
                Run a script…
              </Link>
            )}
            {a.status === 'pending' && can('admin') && (
              <>
                <button type="button" onClick={() => setDialog('approve')}>
                  Approve…
                </button>
                <button type="button" className="button-secondary" onClick={() => setDialog('reject')}>
                  Reject…
                </button>
              </>
            )}
            {a.status === 'approved' && can('admin') && (
              <button type="button" className="button-secondary" onClick={() => setDialog('labels')}>
                Environments and roles…
              </button>
            )}
            {(a.status === 'approved' || a.status === 'pending') && can('admin') && (
              <button type="button" className="button-danger" onClick={() => setDialog('revoke')}>
                Revoke…
              </button>
            )}
          </PageHeader>
          {a.conflictsWith && a.status === 'pending' && (
            <p className="warning" role="note">
              <strong>Warning:</strong> this agent uses the name of <Link to={`/agents/${a.conflictsWith}`}>an approved agent</Link> with a different key. Approving it revokes that one.
            </p>
          )}
          <div className="grid-2">
            <section className="panel" aria-labelledby="presence-h">
              <h2 id="presence-h">Presence</h2>
              <dl className="facts">
                <dt>Connection</dt>
                <dd>
                  <StatusBadge status={a.connection.state} />
                  {a.connection.transport && <span className="muted"> over {a.connection.transport}</span>}
                </dd>
                <dt>Last seen</dt>
                <dd>
                  <RelativeTime value={a.connection.lastSeenAt} fallback="never connected" />
                </dd>
                {a.connection.state === 'offline' && (
                  <>
                    <dt>Why offline</dt>
                    <dd>{a.connection.lastError ?? (a.status === 'approved' ? 'not connected (no error was recorded)' : `the agent is ${a.status}`)}</dd>
                  </>
                )}
              </dl>
            </section>
            <section className="panel" aria-labelledby="identity-h">
              <h2 id="identity-h">Identity</h2>
              <dl className="facts">
                <dt>Hostname</dt>
                <dd>{a.hostname}</dd>
                <dt>OS</dt>
                <dd>
                  {a.os} {a.arch}
                </dd>
                <dt>Agent version</dt>
                <dd>{a.agentVersion}</dd>
                <dt>Fingerprint</dt>
                <dd>
                  <code className="break">{a.fingerprint}</code>
                </dd>
                <dt>Verification code</dt>
                <dd>
                  <code>{a.verificationCode}</code>
                </dd>
                <dt>Enrolled</dt>
                <dd>
                  <RelativeTime value={a.enrolledAt} />
                </dd>
                <dt>Environments</dt>
                <dd>{a.environments.length ? a.environments.join(', ') : <span className="muted">none</span>}</dd>
                <dt>Roles</dt>
                <dd>{a.roles.length ? a.roles.join(', ') : <span className="muted">none</span>}</dd>
              </dl>
            </section>
          </div>
          <AgentHealthSection agent={a} canCheck={can('admin')} />
          <section className="panel" aria-labelledby="policy-h">
            <h2 id="policy-h">Local policy (reported by the host)</h2>
            {a.policy ? (
              <dl className="facts">
                <dt>Source</dt>
                <dd>
                  <code>{a.policy.source}</code>
                </dd>
                <dt>Ad-hoc scripts</dt>
                <dd>{a.policy.allowScripts ? 'allowed' : 'forbidden'}</dd>
                <dt>Job kinds</dt>
                <dd>{a.policy.allowedJobKinds.length ? a.policy.allowedJobKinds.join(', ') : 'none'}</dd>
                <dt>Runs as</dt>
                <dd>{a.policy.runAs ?? 'the agent’s own user'}</dd>
                <dt>Organisations</dt>
                <dd>{a.policy.allowedOrganizations ? a.policy.allowedOrganizations.join(', ') : 'any'}</dd>
                <dt>Frozen</dt>
                <dd>{a.policy.frozen ? 'yes: runs nothing' : 'no'}</dd>
              </dl>
            ) : (
              <p className="muted">No local policy file: the host allows what the agent supports.</p>
            )}
          </section>
          <section className="panel" aria-labelledby="history-h">
            <h2 id="history-h">Approval history</h2>
            {can('admin') ? (
              <Loadable data={history.data} error={history.error}>
                {(page) =>
                  page.items.length === 0 ? (
                    <Empty>No recorded events.</Empty>
                  ) : (
                    <ol className="timeline">
                      {page.items.map((e) => (
                        <li key={e.id}>
                          <RelativeTime value={e.createdAt} /> — <strong>{ACTION_LABELS[e.action] ?? e.action}</strong> by {e.actorLabel ?? e.actorType}
                          {typeof e.details.reason === 'string' && e.details.reason ? <span className="muted"> (reason: {e.details.reason})</span> : null}
                        </li>
                      ))}
                    </ol>
                  )
                }
              </Loadable>
            ) : (
              <p className="muted">
                {a.decidedBy ? (
                  <>
                    {a.status} by {a.decidedBy} <RelativeTime value={a.decidedAt} />.{' '}
                  </>
                ) : null}
                The full history is in the audit log, which admins can read.
              </p>
            )}
            {a.decisionReason && <p>Reason given: {a.decisionReason}</p>}
          </section>
          <section className="panel" aria-labelledby="jobs-h">
            <h2 id="jobs-h">Recent jobs</h2>
            <Loadable data={jobs.data} error={jobs.error}>
              {(page) =>
                page.items.length === 0 ? (
                  <Empty>This agent has run nothing yet.</Empty>
                ) : (
                  <div className="table-wrap">
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Task</th>
                          <th scope="col">Job</th>
                          <th scope="col">Exit code</th>
                          <th scope="col">Started</th>
                        </tr>
                      </thead>
                      <tbody>
                        {page.items.map((t) => {
                          const job = t.jobs.find((j) => j.agentId === a.id);
                          return (
                            <tr key={t.id}>
                              <td>
                                <Link to={`/tasks/${t.id}`}>{t.name}</Link>
                              </td>
                              <td>{job ? <StatusBadge status={job.state} /> : '—'}</td>
                              <td>{job?.exitCode ?? '—'}</td>
                              <td>
                                <RelativeTime value={job?.startedAt ?? null} fallback="not started" />
                              </td>
                            </tr>
                          );
                        })}
                      </tbody>
                    </table>
                  </div>
                )
              }
            </Loadable>
          </section>
          {dialog === 'approve' && (
            <ApproveAgentDialog
              agent={a}
              onClose={() => setDialog(null)}
              onDone={() => {
                setDialog(null);
                reloadAll();
              }}
            />
          )}
          {dialog === 'labels' && (
            <AgentLabelsDialog
              agent={a}
              onClose={() => setDialog(null)}
              onDone={() => {
                setDialog(null);
                reloadAll();
              }}
            />
          )}
          {(dialog === 'reject' || dialog === 'revoke') && (
            <DecideAgentDialog
              agent={a}
              decision={dialog}
              onClose={() => setDialog(null)}
              onDone={() => {
                setDialog(null);
                reloadAll();
              }}
            />
          )}
        </>
      )}
    </Loadable>
  );
}
