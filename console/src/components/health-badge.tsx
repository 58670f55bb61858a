import type { AgentHealth } from '../api/types';
import { useNow } from '../api/use-now';
import { formatAbsolute, formatRelative } from './relative-time';
import { toneOf } from './status-badge';

/** An agent's last health verdict and how long ago it was found, its problems on hover; "—" when never checked. */
export function HealthBadge({ health }: { health: AgentHealth | null }) {
  const now = useNow();
  if (!health)
    return (
      <span className="muted" title="never checked" data-testid="health-never">
        <span aria-hidden="true">—</span>
        <span className="visually-hidden">never checked</span>
      </span>
    );
  const checked = new Date(health.checkedAt);
  const known = !Number.isNaN(checked.getTime());
  // The badge is small: the problems go in its title, the detail page lists them in full.
  const title = [...health.problems, ...(known ? [`checked ${formatAbsolute(checked)}`] : [])].join('\n');
  return (
    <span className={`badge badge-${toneOf(health.verdict)}`} data-status={health.verdict} title={title}>
      <span className="badge-dot" aria-hidden="true" />
      {health.verdict}
      {known && (
        <span className="badge-when">
          {' · '}
          <time dateTime={checked.toISOString()}>{formatRelative(checked, now)}</time>
        </span>
      )}
    </span>
  );
}
