import { spawn } from 'node:child_process';
import type { Logger } from './log';
import type { StatusFile } from './state-store';

/** The connection state as the connection loop records it (status.json without its time). */
export type ConnectionState = Omit<StatusFile, 'updatedAt'>;

/** One message for the service manager: READY=1 (at most once per process) and the unit's status line. */
export interface ServiceNotification {
  ready: boolean;
  status: string;
}

// systemctl status shows one line; a long error would only be cut there.
const MAX_STATUS_CHARS = 200;

const TRANSPORT_WORDS: Record<NonNullable<ConnectionState['transport']>, string> = { websocket: 'WebSocket', 'long-poll': 'HTTP long-poll' };

function approvalWords(status: ConnectionState['status']): string {
  if (status === 'approved') return 'approved, taking work';
  if (status === 'pending') return 'waiting for approval in the Corral console';
  if (status === null) return 'approval not known yet';
  return status;
}

/** The unit's status line (`systemctl status corral-agent`) for a connection state. */
export function describeServiceState(state: ConnectionState): string {
  if (state.pid === null) return state.lastError ? `stopped: ${state.lastError}` : 'stopped';
  if (state.connected) return `connected over ${state.transport ? TRANSPORT_WORDS[state.transport] : 'an unknown transport'} to ${state.server}; ${approvalWords(state.status)}`;
  if (state.lastError) return `not connected (${state.lastError}); retrying`;
  return state.server ? `reconnecting to ${state.server}` : 'connecting';
}

/**
 * systemd-notify's arguments for a notification. The status becomes one `STATUS=` line of the
 * datagram, so control characters (a newline would start another assignment) become spaces.
 */
export function notifyArguments(notification: ServiceNotification): string[] {
  // eslint-disable-next-line no-control-regex
  let status = notification.status.replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
  if (status.length > MAX_STATUS_CHARS) status = `${status.slice(0, MAX_STATUS_CHARS - 1)}…`;
  return [...(notification.ready ? ['--ready'] : []), `--status=${status}`];
}

/** Delivers one notification; never rejects (a failure is the sender's to report). */
export type NotifySender = (args: string[]) => Promise<void>;

/**
 * Keeps the service manager informed: READY=1 the first time the agent is connected (so
 * `systemctl start` returns once the agent is really there), and the status line on every
 * change. One message at a time, in order; a status line superseded while waiting is skipped.
 */
export class ServiceNotifier {
  private readySent = false;
  private lastStatus: string | null = null;
  private readonly queue: ServiceNotification[] = [];
  private sending: Promise<void> | null = null;

  constructor(private readonly send: NotifySender) {}

  update(state: ConnectionState): void {
    const status = describeServiceState(state);
    const ready = !this.readySent && state.connected;
    if (!ready && status === this.lastStatus) return;
    this.lastStatus = status;
    if (ready) this.readySent = true;
    const waiting = this.queue[this.queue.length - 1];
    if (waiting && !waiting.ready && !ready) waiting.status = status;
    else this.queue.push({ ready, status });
    this.sending ??= this.pump();
  }

  /** Resolves once everything asked for so far has been sent. */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async pump(): Promise<void> {
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) await this.send(notifyArguments(next));
    } finally {
      this.sending = null;
    }
  }
}

// systemd-notify waits until the manager has read the message; one that hangs is given up on.
const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Sends by running `systemd-notify`: Node has no unix datagram sockets, which sd_notify needs.
 * The message then comes from a child of the agent, which systemd accepts only with
 * NotifyAccess=all (the packaged unit sets it). The first failure is logged, once.
 */
export function systemdNotifySender(logger: Logger, env: NodeJS.ProcessEnv, command = 'systemd-notify'): NotifySender {
  let warned = false;
  return (args) =>
    new Promise((resolve) => {
      let settled = false;
      let stderr = '';
      const finish = (problem: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (problem && !warned) {
          warned = true;
          logger.warn(`cannot tell systemd how the agent is doing with ${command} (${problem}); a Type=notify unit waits for READY=1 until its start times out`);
        }
        resolve();
      };
      const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: env.NOTIFY_SOCKET } });
      const timer = setTimeout(() => child.kill('SIGKILL'), NOTIFY_TIMEOUT_MS);
      child.stderr?.on('data', (d: Buffer) => (stderr = `${stderr}${d.toString()}`.slice(-500)));
      child.once('error', (err) => finish(err.message));
      child.once('close', (code, signal) => finish(code === 0 ? null : `${signal ?? `exit code ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
}
