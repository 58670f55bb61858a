import { useEffect, useEffectEvent, useLayoutEffect, useRef, useState } from 'react';
import { Link, useLocation, useParams } from 'react-router';
import { messageOf, post } from '../api/api-client';
import { FINISHED_TASK_STATES, type LogLine, type TargetRefusal } from '../api/types';
import { useNow } from '../api/use-now';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { formatDuration, RelativeTime } from '../components/relative-time';
import { labelOf, StatusBadge } from '../components/status-badge';
import { useSession } from '../session/session-context';
import { describeTaskKind } from './task-kind';
import { followLog, mergeLogLines } from './task-log';

/** The agents a health check started from the agents page left out (navigation state), if any. */
function skippedFromState(state: unknown): TargetRefusal[] {
  const skipped = (state as { skipped?: unknown } | null)?.skipped;
  return Array.isArray(skipped) ? (skipped as TargetRefusal[]).filter((s) => typeof s?.name === 'string' && typeof s.reason === 'string') : [];
}

export function TaskDetailPage() {
  const { id = '' } = useParams();
  // Job states are re-read while the task runs; a finished task no longer changes.
  const task = useResource('/api/v1/tasks/{id}', { path: { id } }, { pollMs: 2_000, pollWhile: (t) => !FINISHED_TASK_STATES.includes(t.state) });
  const now = useNow();
  const { can } = useSession();
  const [cancelError, setCancelError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const skipped = skippedFromState(useLocation().state);

  const cancel = async () => {
    setCancelling(true);
    setCancelError(null);
    try {
      await post('/api/v1/tasks/{id}/cancel', { params: { path: { id } } });
      task.reload();
    } catch (err) {
      setCancelError(messageOf(err));
    } finally {
      setCancelling(false);
    }
  };

  return (
    <Loadable data={task.data} error={task.error}>
      {(t) => {
        const finished = FINISHED_TASK_STATES.includes(t.state);
        return (
          <>
            <p className="breadcrumb">
              <Link to="/tasks">Tasks</Link> /
            </p>
            <PageHeader
              title={
                <>
                  {t.name} <StatusBadge status={t.state} />
                </>
              }
            >
              {!finished && can('operator') && (
                <button type="button" className="button-danger" onClick={() => void cancel()} disabled={cancelling || t.state === 'cancelling'}>
                  {t.state === 'cancelling' ? 'Cancelling…' : 'Cancel task'}
                </button>
              )}
            </PageHeader>
            <ErrorMessage error={cancelError} />
            {skipped.length > 0 && (
              <div className="notice" role="status" data-testid="skipped-agents">
                {skipped.length === 1 ? 'One approved agent was' : `${skipped.length} approved agents were`} not checked:
                <ul>
                  {skipped.map((s) => (
                    <li key={s.agentId}>
                      <Link to={`/agents/${s.agentId}`}>{s.name}</Link>: {s.reason}
                    </li>
                  ))}
                </ul>
              </div>
            )}
            {t.waitingFor && t.state === 'queued' && (
              <p className="notice" role="status" data-testid="waiting-for">
                Waiting for <Link to={`/tasks/${t.waitingFor.taskId}`}>{t.waitingFor.taskName}</Link> ({labelOf(t.waitingFor.taskState)})
                {t.concurrencyKey && (
                  <>
                    {' '}
                    on concurrency key <code>{t.concurrencyKey}</code>
                  </>
                )}
                {t.waitingFor.taskState === 'queued' ? ', which is itself waiting in line.' : '.'}
              </p>
            )}
            {t.cancelRequestedBy && (
              <p className="muted">
                Cancel asked by {t.cancelRequestedBy} <RelativeTime value={t.cancelRequestedAt} />.
              </p>
            )}
            <dl className="facts facts-inline">
              <dt>Kind</dt>
              <dd>{describeTaskKind(t)}</dd>
              <dt>Created</dt>
              <dd>
                <RelativeTime value={t.createdAt} /> by {t.createdBy}
              </dd>
              <dt>Started</dt>
              <dd>
                <RelativeTime value={t.startedAt} fallback="not yet" />
              </dd>
              <dt>{finished ? 'Ran for' : 'Running for'}</dt>
              <dd>{t.startedAt ? formatDuration((t.finishedAt ? Date.parse(t.finishedAt) : now) - Date.parse(t.startedAt)) : '—'}</dd>
              <dt>Timeout</dt>
              <dd>{formatDuration(t.timeoutSeconds * 1000)}</dd>
              {t.concurrencyKey && (
                <>
                  <dt>Concurrency key</dt>
                  <dd>
                    <code>{t.concurrencyKey}</code>
                  </dd>
                </>
              )}
            </dl>
            <section className="panel" aria-labelledby="jobs-h">
              <h2 id="jobs-h">Jobs</h2>
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Agent</th>
                      <th scope="col">State</th>
                      <th scope="col">Exit code</th>
                      <th scope="col">Attempt</th>
                      <th scope="col">Started</th>
                      <th scope="col">Finished</th>
                      <th scope="col">Note</th>
                    </tr>
                  </thead>
                  <tbody>
                    {t.jobs.map((j) => (
                      <tr key={j.id} data-job-id={j.id}>
                        <td>
                          <Link to={`/agents/${j.agentId}`}>{j.agentName}</Link>
                        </td>
                        <td>
                          <StatusBadge status={j.state} />
                        </td>
                        <td data-testid="exit-code">{j.exitCode ?? (j.signal ? `signal ${j.signal}` : '—')}</td>
                        <td>{j.attempt}</td>
                        <td>
                          <RelativeTime value={j.startedAt} fallback="—" />
                        </td>
                        <td>
                          <RelativeTime value={j.finishedAt} fallback="—" />
                        </td>
                        <td>
                          {j.message ?? ''}
                          {j.logTruncated && <div className="warning-text">log truncated</div>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
            <TaskLog key={t.id} taskId={t.id} multiJob={t.jobs.length > 1} onProgress={task.reload} />
            {t.script && (
              <section className="panel" aria-labelledby="script-h">
                <h2 id="script-h">Script ({t.script.syntax})</h2>
                <pre className="script">{t.script.body}</pre>
              </section>
            )}
          </>
        );
      }}
    </Loadable>
  );
}

function TaskLog({ taskId, multiJob, onProgress }: { taskId: string; multiJob: boolean; onProgress: () => void }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [ended, setEnded] = useState<string | null>(null);
  const [trouble, setTrouble] = useState<string | null>(null);
  const box = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  const progress = useEffectEvent(onProgress);

  // Keyed by task: a new task mounts a new log, so nothing needs resetting here.
  useEffect(
    () =>
      followLog(`/api/v1/tasks/${taskId}/log`, {
        onLines: (arrived) => {
          setLines((shown) => mergeLogLines(shown, arrived));
          progress();
        },
        onEnd: (state) => {
          setEnded(state);
          progress();
        },
        onTrouble: setTrouble,
      }),
    [taskId],
  );

  // Keep following the bottom unless the reader scrolled up.
  useLayoutEffect(() => {
    if (box.current && stick.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);

  return (
    <section className="panel" aria-labelledby="log-h">
      <h2 id="log-h">
        Log{' '}
        <span className="small muted" role="status">
          {ended ? `(ended: ${labelOf(ended)})` : '(following live)'}
        </span>
      </h2>
      {trouble && !ended && <p className="warning-text">{trouble}</p>}
      {lines.length === 0 ? (
        <Empty>{ended ? 'No output.' : 'No output yet.'}</Empty>
      ) : (
        <pre
          className="log"
          ref={box}
          tabIndex={0}
          aria-label="Task output"
          data-testid="task-log"
          onScroll={(e) => {
            const el = e.currentTarget;
            stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          }}
        >
          {lines.map((l) => (
            <span key={`${l.jobId}:${l.attempt}:${l.seq}`} className={`log-${l.stream}`}>
              {multiJob && <span className="log-agent">[{l.agentName}] </span>}
              {l.stream === 'stderr' && <span className="visually-hidden">stderr: </span>}
              {l.text}
            </span>
          ))}
        </pre>
      )}
    </section>
  );
}
