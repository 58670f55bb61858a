import { useCallback, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { AGENT_STATUSES, type Agent, type AgentStatus } from '../api/types';
import { useAgentEvents } from '../api/use-agent-events';
import { useHealthCheck } from '../api/use-health-check';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { HealthBadge } from '../components/health-badge';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';
import { ApproveAgentDialog, DecideAgentDialog } from './agent-decision-dialogs';

// Approval changes arrive as events; presence (online/offline) is not pushed, so the approved
// tab re-reads it on a short timer, the others only as a backstop.
const PRESENCE_POLL_MS = 5_000;
const BACKSTOP_POLL_MS = 60_000;

/** Re-reads `reload` when agents change, at most once per animation of changes. */
export function useReloadOnAgentChange(reload: () => void, relevant: (agentId: string) => boolean = () => true) {
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useAgentEvents(
    useCallback(
      (change) => {
        if (change && !relevant(change.agentId)) return;
        clearTimeout(pending.current);
        pending.current = setTimeout(reload, 100);
      },
      [reload, relevant],
    ),
  );
}

export function AgentsPage() {
  const [params, setParams] = useSearchParams();
  const tab = (AGENT_STATUSES as readonly string[]).includes(params.get('status') ?? '') ? (params.get('status') as AgentStatus) : 'pending';
  const agents = useResource('/api/v1/agents', { query: { status: tab } }, { pollMs: tab === 'approved' ? PRESENCE_POLL_MS : BACKSTOP_POLL_MS });
  useReloadOnAgentChange(agents.reload);
  const { can } = useSession();
  const [dialog, setDialog] = useState<{ agent: Agent; kind: 'approve' | 'reject' } | null>(null);
  const [announcement, setAnnouncement] = useState<string | null>(null);
  const healthCheck = useHealthCheck();
  const navigate = useNavigate();
  const checkHealth = async () => {
    const task = await healthCheck.start();
    // The task page names the agents whose local policy kept them out of the check.
    if (task) navigate(`/tasks/${task.id}`, { state: { skipped: task.skipped } });
  };

  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  const selectTab = (status: AgentStatus, focus = false) => {
    setParams({ status }, { replace: true });
    if (focus) tabs.current[AGENT_STATUSES.indexOf(status)]?.focus();
  };
  // Arrow keys move between tabs, as in any tab list.
  const onTabKey = (e: React.KeyboardEvent) => {
    const i = AGENT_STATUSES.indexOf(tab);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? AGENT_STATUSES.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    selectTab(AGENT_STATUSES[(next + AGENT_STATUSES.length) % AGENT_STATUSES.length], true);
  };

  return (
    <>
      <PageHeader title="Agents">
        {can('admin') && (
          <>
            <button type="button" className="button-secondary" onClick={() => void checkHealth()} disabled={healthCheck.busy}>
              {healthCheck.busy ? 'Starting…' : 'Check health'}
            </button>
            <Link className="button button-secondary" to="/enrollment-tokens">
              Add an agent
            </Link>
          </>
        )}
      </PageHeader>
      <ErrorMessage error={healthCheck.error} />
      {healthCheck.refusals.length > 1 && (
        <ul className="error-list">
          {healthCheck.refusals.map((r) => (
            <li key={r.agentId}>{r.reason}</li>
          ))}
        </ul>
      )}
      <div role="tablist" aria-label="Agents by approval status" className="tabs" onKeyDown={onTabKey}>
        {AGENT_STATUSES.map((status, i) => (
          <button
            key={status}
            ref={(el) => {
              tabs.current[i] = el;
            }}
            role="tab"
            type="button"
            id={`tab-${status}`}
            aria-selected={tab === status}
            aria-controls="agents-panel"
            tabIndex={tab === status ? 0 : -1}
            className="tab"
            onClick={() => selectTab(status)}
          >
            {status[0].toUpperCase() + status.slice(1)} <span className="count">{agents.data ? agents.data.counts[status] : '…'}</span>
          </button>
        ))}
      </div>
      {announcement && (
        <p className="notice" role="status">
          {announcement}
        </p>
      )}
      <section id="agents-panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
        <Loadable data={agents.data} error={agents.error}>
          {(data) =>
            data.items.length === 0 ? (
              <Empty>
                {tab === 'pending' ? (
                  <>
                    No agent is waiting for approval. New ones appear here as soon as they enroll. <Link to="/enrollment-tokens">Create an enrollment token</Link> to add one.
                  </>
                ) : (
                  `No ${tab} agents.`
                )}
              </Empty>
            ) : (
              <ul className="cards" aria-label={`${tab} agents`}>
                {data.items.map((agent) => (
                  <AgentCard key={agent.id} agent={agent} all={data.items} canDecide={can('admin')} onDecide={(kind) => setDialog({ agent, kind })} />
                ))}
              </ul>
            )
          }
        </Loadable>
      </section>
      {dialog?.kind === 'approve' && (
        <ApproveAgentDialog
          agent={dialog.agent}
          onClose={() => setDialog(null)}
          onDone={(a) => {
            setDialog(null);
            setAnnouncement(`Agent “${a.name}” approved. It starts working as soon as it connects.`);
            agents.reload();
          }}
        />
      )}
      {dialog?.kind === 'reject' && (
        <DecideAgentDialog
          agent={dialog.agent}
          decision="reject"
          onClose={() => setDialog(null)}
          onDone={(a) => {
            setDialog(null);
            setAnnouncement(`Agent “${a.name}” rejected.`);
            agents.reload();
          }}
        />
      )}
    </>
  );
}

function AgentCard({ agent, all, canDecide, onDecide }: { agent: Agent; all: Agent[]; canDecide: boolean; onDecide: (kind: 'approve' | 'reject') => void }) {
  const conflict = agent.conflictsWith ? all.find((a) => a.id === agent.conflictsWith) : undefined;
  return (
    <li className="card" data-agent-id={agent.id} aria-label={`Agent ${agent.name}`}>
      <div className="card-header">
        <h2 className="card-title">
          <Link to={`/agents/${agent.id}`}>{agent.name}</Link>
        </h2>
        <StatusBadge status={agent.status} />
        {agent.status === 'approved' && <StatusBadge status={agent.connection.state} />}
      </div>
      {agent.status === 'pending' && agent.conflictsWith && (
        <p className="warning" role="note">
          <strong>Warning:</strong> an approved agent already has this name{conflict ? ` (${conflict.hostname})` : ''} with a different key. This may be a rebuilt host — or someone else.
          Approving this one revokes <Link to={`/agents/${agent.conflictsWith}`}>the existing agent</Link>.
        </p>
      )}
      <dl className="facts">
        <dt>Hostname</dt>
        <dd>{agent.hostname}</dd>
        <dt>OS</dt>
        <dd>
          {agent.os} {agent.arch}
        </dd>
        <dt>Enrolled</dt>
        <dd>
          <RelativeTime value={agent.enrolledAt} />
        </dd>
        {agent.status === 'pending' ? (
          <>
            <dt>Fingerprint</dt>
            <dd>
              <code className="break">{agent.fingerprint}</code>
            </dd>
            <dt>Verification code</dt>
            <dd>
              <code className="code-big" data-testid="verification-code">
                {agent.verificationCode}
              </code>
            </dd>
          </>
        ) : (
          <>
            <dt>Version</dt>
            <dd>{agent.agentVersion}</dd>
            <dt>Health</dt>
            <dd>
              <HealthBadge health={agent.health} />
            </dd>
            <dt>Last seen</dt>
            <dd>
              <RelativeTime value={agent.connection.lastSeenAt} fallback="never" />
            </dd>
            {agent.decidedBy && (
              <>
                <dt>{agent.status === 'approved' ? 'Approved by' : `${agent.status[0].toUpperCase()}${agent.status.slice(1)} by`}</dt>
                <dd>
                  {agent.decidedBy}, <RelativeTime value={agent.decidedAt} />
                </dd>
              </>
            )}
          </>
        )}
      </dl>
      {agent.status === 'pending' && canDecide && (
        <div className="card-actions">
          <button type="button" onClick={() => onDecide('approve')}>
            Approve…
          </button>
          <button type="button" className="button-secondary" onClick={() => onDecide('reject')}>
            Reject…
          </button>
        </div>
      )}
    </li>
  );
}
