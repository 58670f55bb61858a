import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { messageOf, post } from '../api/api-client';
import { type DeploymentTarget, type Interruption, type LogLine, roleAtLeast } from '../api/types';
import { useResource } from '../api/use-resource';
import { ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';
import { followLog, mergeLogLines } from './task-log';

const FINISHED = ['succeeded', 'failed', 'cancelled'];

/** A deployment: its steps in order, each agent's part, what it waits for, and the answers it needs. */
export function DeploymentPage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const deployment = useResource('/api/v1/deployments/{id}', { path: { id } }, { pollMs: 1_000, pollWhile: (d) => !FINISHED.includes(d.state) });
  const [error, setError] = useState<string | null>(null);
  const log = useDeploymentLog(id);

  const act = async (request: () => Promise<unknown>) => {
    setError(null);
    try {
      await request();
      deployment.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <Loadable data={deployment.data} error={deployment.error}>
      {(d) => (
        <>
          <p className="breadcrumb">
            <Link to={`/projects/${d.project.id}`}>{d.project.name}</Link> /
          </p>
          <PageHeader
            title={
              <>
                {d.release.version} to {d.environment.name} <StatusBadge status={d.state} />
              </>
            }
          >
            {!FINISHED.includes(d.state) && can('operator') && (
              <button type="button" className="button-danger" onClick={() => void act(() => post('/api/v1/deployments/{id}/cancel', { params: { path: { id: d.id } } }))}>
                Cancel deployment
              </button>
            )}
          </PageHeader>
          <p className="lead">
            Asked for by {d.createdBy} <RelativeTime value={d.createdAt} />
            {d.guidedFailure && ', with guided failure'}. <Link to={`/tasks/${d.taskId}`}>Its task</Link>.
            {d.waitingFor && (
              <>
                {' '}
                Waits for <Link to={`/deployments/${d.waitingFor}`}>the deployment before it</Link>.
              </>
            )}
          </p>
          <ErrorMessage error={error} />
          {log.trouble && !FINISHED.includes(d.state) && <p className="warning-text">{log.trouble}</p>}
          {d.interruptions
            .filter((i) => !i.answer)
            .map((i) => (
              <InterruptionPanel
                key={i.id}
                interruption={i}
                onAnswer={(action, note) => act(() => post('/api/v1/interruptions/{id}', { params: { path: { id: i.id } }, body: { action, note } }))}
              />
            ))}
          <ol className="steps" aria-label="Steps">
            {d.steps.map((s) => (
              <li key={s.id} aria-label={`Step ${s.name}`}>
                <h2>
                  {s.name} <StatusBadge status={s.state} />
                </h2>
                {s.reason && <p className="muted">{s.reason}</p>}
                {s.targets.length > 0 && (
                  <ul className="inline-list">
                    {s.targets.map((t) => (
                      <li key={t.agent.id} aria-label={`${s.name} on ${t.agent.name}`}>
                        {t.agent.name} <StatusBadge status={t.state} />
                        {t.reason && <span className="muted"> {t.reason}</span>}
                        <Timing target={t} />
                        {t.outputs?.length > 0 && (
                          <dl className="outputs" aria-label={`Outputs of ${s.name} on ${t.agent.name}`}>
                            {t.outputs.map((o) => (
                              <div key={o.name}>
                                <dt>{o.name}</dt>
                                <dd>{o.sensitive ? <span title="sensitive: never shown">***</span> : <code>{o.value}</code>}</dd>
                              </div>
                            ))}
                          </dl>
                        )}
                      </li>
                    ))}
                  </ul>
                )}
                <StepLog lines={log.lines.filter((l) => l.jobName === s.name)} step={s.name} />
              </li>
            ))}
          </ol>
          {d.interruptions.some((i) => i.answer) && (
            <section className="panel" aria-labelledby="answers-h">
              <h2 id="answers-h">Answers</h2>
              <ul>
                {d.interruptions
                  .filter((i) => i.answer)
                  .map((i) => (
                    <li key={i.id}>
                      {i.answer!.by} chose {i.answer!.action} <RelativeTime value={i.answer!.at} />
                      {i.answer!.note && `: ${i.answer!.note}`}
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

/** The deployment's output as it arrives, from the start, once each line. */
function useDeploymentLog(id: string) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [trouble, setTrouble] = useState<string | null>(null);
  useEffect(
    () =>
      followLog(`/api/v1/deployments/${id}/log`, {
        onLines: (arrived) => setLines((shown) => mergeLogLines(shown, arrived)),
        onEnd: () => setTrouble(null),
        onTrouble: setTrouble,
      }),
    [id],
  );
  return { lines, trouble };
}

function StepLog({ step, lines }: { step: string; lines: LogLine[] }) {
  if (!lines.length) return null;
  return (
    <pre className="log" tabIndex={0} aria-label={`Output of ${step}`}>
      {lines.map((l) => (
        <span key={`${l.jobId}:${l.attempt}:${l.seq}`} className={`log-${l.stream}`}>
          <span className="log-agent">[{l.agentName}] </span>
          {l.stream === 'stderr' && <span className="visually-hidden">stderr: </span>}
          {l.text}
        </span>
      ))}
    </pre>
  );
}

/** When an agent's part started, and how long it took once it finished. */
function Timing({ target }: { target: DeploymentTarget }) {
  if (!target.startedAt) return null;
  const seconds = target.finishedAt ? (Date.parse(target.finishedAt) - Date.parse(target.startedAt)) / 1000 : null;
  return (
    <span className="muted small">
      {' '}
      started <RelativeTime value={target.startedAt} />
      {seconds !== null && `, took ${seconds.toFixed(1)} s`}
    </span>
  );
}

function InterruptionPanel({ interruption, onAnswer }: { interruption: Interruption; onAnswer: (action: Interruption['actions'][number], note: string) => Promise<void> }) {
  const { me } = useSession();
  const [note, setNote] = useState('');
  const allowed = !!me && roleAtLeast(me.role, interruption.responsibleRole);
  return (
    <section className="panel" role="region" aria-label={interruption.kind === 'manual' ? 'Manual intervention' : 'Guided failure'}>
      <h2>{interruption.kind === 'manual' ? 'Waiting for a person' : 'A step failed: what now?'}</h2>
      <p>{interruption.instructions}</p>
      {allowed ? (
        <>
          <div className="field">
            <label htmlFor={`note-${interruption.id}`}>Note (kept in the audit log)</label>
            <input id={`note-${interruption.id}`} value={note} onChange={(e) => setNote(e.target.value)} maxLength={2000} />
          </div>
          <div className="form-actions">
            {interruption.actions.map((action) => (
              <button key={action} type="button" className={action === 'abort' ? 'button-danger' : undefined} onClick={() => void onAnswer(action, note)}>
                {action[0].toUpperCase() + action.slice(1)}
              </button>
            ))}
          </div>
        </>
      ) : (
        <p className="muted">Only a member with the role {interruption.responsibleRole} or higher can answer.</p>
      )}
    </section>
  );
}
