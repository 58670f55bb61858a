import { useState } from 'react';
import { Link } from 'react-router';
import { type Agent, type AgentHealth, type HealthFacts, INTERPRETERS, type LocalPolicy } from '../api/types';
import { useHealthCheck } from '../api/use-health-check';
import { Empty, ErrorMessage } from '../components/feedback';
import { RelativeTime } from '../components/relative-time';
import { StatusBadge } from '../components/status-badge';

const GIB = 1024 ** 3;

/** "3 days, 4 hours", "5 hours, 2 minutes", "less than a minute": the two largest units. */
export function formatUptime(seconds: number): string {
  const units: [string, number][] = [
    ['day', 24 * 3600],
    ['hour', 3600],
    ['minute', 60],
  ];
  const count = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  const first = units.findIndex(([, size]) => seconds >= size);
  if (first < 0) return 'less than a minute';
  const [unit, size] = units[first];
  const words = [count(Math.floor(seconds / size), unit)];
  const next = units[first + 1];
  if (next) {
    const rest = Math.floor((seconds % size) / next[1]);
    if (rest) words.push(count(rest, next[0]));
  }
  return words.join(', ');
}

/** "12.3 GiB"; small amounts keep two decimals so a nearly full disk does not read "0.0". */
export function formatGiB(bytes: number): string {
  const gib = bytes / GIB;
  return `${gib.toFixed(gib < 10 ? 2 : 1)} GiB`;
}

/** "4.20 GiB free of 50.0 GiB (8.4% free)". */
export function formatFreeSpace(freeBytes: number, totalBytes: number): string {
  const percent = totalBytes > 0 ? ` (${((freeBytes / totalBytes) * 100).toFixed(1)}% free)` : '';
  return `${formatGiB(freeBytes)} free of ${formatGiB(totalBytes)}${percent}`;
}

/** The agent's clock against the control plane's: "1.5 s ahead of the control plane". */
export function formatClockOffset(ms: number | null): string {
  if (ms === null) return 'not measured';
  if (ms === 0) return 'in step with the control plane';
  const size = Math.abs(ms);
  const amount = size < 1000 ? `${Math.round(size)} ms` : size < 60_000 ? `${(size / 1000).toFixed(1)} s` : `${(size / 60_000).toFixed(1)} min`;
  return `${amount} ${ms > 0 ? 'ahead of' : 'behind'} the control plane`;
}

/** One line for a host's local policy, as the health check found it. */
export function summarizePolicy(policy: LocalPolicy): string {
  const parts = [
    `job kinds ${policy.allowedJobKinds.length ? policy.allowedJobKinds.join(', ') : 'none'}`,
    `scripts ${policy.allowScripts ? 'allowed' : 'forbidden'}`,
    `runs as ${policy.runAs ?? 'the agent’s own user'}`,
    `organisations ${policy.allowedOrganizations ? policy.allowedOrganizations.join(', ') : 'any'}`,
  ];
  return policy.frozen ? `frozen: runs nothing; ${parts.join('; ')}` : parts.join('; ');
}

/** What the agent reported about itself and its host, as a definition list. */
export function HealthFactsList({ facts, clockOffsetMs }: { facts: HealthFacts; clockOffsetMs: number | null }) {
  const { stateDir } = facts;
  return (
    <dl className="facts" data-testid="health-facts">
      <dt>Agent version</dt>
      <dd>{facts.agentVersion}</dd>
      <dt>Hostname</dt>
      <dd>{facts.hostname}</dd>
      <dt>OS</dt>
      <dd>
        {facts.os} {facts.arch}
      </dd>
      <dt>Uptime</dt>
      <dd>{formatUptime(facts.uptimeSeconds)}</dd>
      <dt>State directory</dt>
      <dd>
        <code className="break">{stateDir.path}</code>
        <div>{formatFreeSpace(stateDir.freeBytes, stateDir.totalBytes)}</div>
      </dd>
      <dt>Writable</dt>
      <dd>{stateDir.writable ? 'yes' : <span className="warning-text">no</span>}</dd>
      <dt>Clock offset</dt>
      <dd>{formatClockOffset(clockOffsetMs)}</dd>
      <dt>Interpreters</dt>
      <dd>
        <ul className="plain-list">
          {INTERPRETERS.map((name) => {
            const found = facts.interpreters[name];
            return (
              <li key={name}>
                <strong>{name}</strong>{' '}
                {found ? (
                  <>
                    {found.version ?? <span className="muted">version unknown</span>} <code className="small break">{found.path}</code>
                  </>
                ) : (
                  <span className="muted">not found</span>
                )}
              </li>
            );
          })}
        </ul>
      </dd>
      <dt>Local policy</dt>
      <dd>
        {summarizePolicy(facts.policy)} <span className="muted small">({facts.policy.source})</span>
      </dd>
    </dl>
  );
}

/** The last check's verdict, when, its problems and facts. */
export function HealthReport({ health }: { health: AgentHealth }) {
  return (
    <>
      <p>
        <StatusBadge status={health.verdict} /> checked <RelativeTime value={health.checkedAt} /> (<Link to={`/tasks/${health.taskId}`}>task</Link>)
      </p>
      {health.problems.length > 0 && (
        <ul className="problem-list" aria-label="Problems found">
          {health.problems.map((p, i) => (
            <li key={i}>{p}</li>
          ))}
        </ul>
      )}
      {health.facts ? (
        <HealthFactsList facts={health.facts} clockOffsetMs={health.clockOffsetMs} />
      ) : (
        <p className="muted">The check ended without an answer from the agent, so there are no facts about the host.</p>
      )}
    </>
  );
}

/** The agent page's Health panel; admins can start a check of this agent from it. */
export function AgentHealthSection({ agent, canCheck }: { agent: Agent; canCheck: boolean }) {
  const check = useHealthCheck();
  const [startedTaskId, setStartedTaskId] = useState<string | null>(null);
  const run = async () => {
    setStartedTaskId(null);
    const task = await check.start([agent.id]);
    if (task) setStartedTaskId(task.id);
  };
  // A result newer than the check started here means that check has answered.
  const answered = startedTaskId !== null && agent.health?.taskId === startedTaskId;

  return (
    <section className="panel" aria-labelledby="health-h">
      <div className="panel-heading">
        <h2 id="health-h">Health</h2>
        {canCheck && agent.status === 'approved' && (
          <button type="button" className="button-secondary button-small" onClick={() => void run()} disabled={check.busy}>
            {check.busy ? 'Starting…' : 'Run health check'}
          </button>
        )}
      </div>
      <ErrorMessage error={check.error} />
      {check.refusals.length > 1 && (
        <ul className="error-list">
          {check.refusals.map((r) => (
            <li key={r.agentId}>{r.reason}</li>
          ))}
        </ul>
      )}
      {startedTaskId && !answered && (
        <p className="notice" role="status">
          Health check started: <Link to={`/tasks/${startedTaskId}`}>follow the task</Link>. The result shows here when the agent answers.
        </p>
      )}
      {agent.health ? <HealthReport health={agent.health} /> : <Empty>Never checked.{canCheck && agent.status === 'approved' ? ' Run a health check to see how the host is doing.' : ''}</Empty>}
    </section>
  );
}
