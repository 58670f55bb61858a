export type Tone = 'ok' | 'warn' | 'danger' | 'info' | 'muted';

// Every status has a colour AND its word: colour alone never carries meaning.
const TONES: Record<string, Tone> = {
  pending: 'warn',
  approved: 'ok',
  rejected: 'danger',
  revoked: 'muted',
  online: 'ok',
  offline: 'muted',
  queued: 'info',
  offered: 'info',
  running: 'info',
  cancelling: 'warn',
  succeeded: 'ok',
  failed: 'danger',
  cancelled: 'muted',
  timed_out: 'danger',
  unknown: 'warn',
  active: 'ok',
  expired: 'muted',
  used_up: 'muted',
  alive: 'ok',
  dead: 'danger',
  stopped: 'muted',
  draining: 'warn',
  healthy: 'ok',
  warning: 'warn',
  unhealthy: 'danger',
  paused: 'warn',
  waiting: 'warn',
  skipped: 'muted',
  not_started: 'muted',
  excluded: 'muted',
};

const LABELS: Record<string, string> = { timed_out: 'timed out', used_up: 'used up' };

export function toneOf(status: string): Tone {
  return TONES[status] ?? 'muted';
}

export function labelOf(status: string): string {
  return LABELS[status] ?? status;
}

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`badge badge-${toneOf(status)}`} data-status={status}>
      <span className="badge-dot" aria-hidden="true" />
      {label ?? labelOf(status)}
    </span>
  );
}
