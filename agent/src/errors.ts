import type { IncomingHttpHeaders } from 'node:http';
import { CLOSE_CODES, ErrorBodySchema, FATAL_AGENT_ERRORS } from '../../src/protocol/messages';

/** How the agent process ends. */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 2, // bad command line or configuration: nothing was attempted
  refused: 3, // the control plane rejected or revoked this agent
} as const;

export type ErrorKind = 'retryable' | 'fatal';

const REFUSED_CODES = new Set(['AGENT_REVOKED', 'AGENT_REJECTED', 'AGENT_REFUSED']);
const FATAL_CODES = new Set<string>(FATAL_AGENT_ERRORS);

// Longest Retry-After the agent honours; a larger value is more likely a bug than a plan.
const MAX_RETRY_AFTER_MS = 60 * 60_000;

export interface AgentErrorDetails {
  retryAfterMs?: number;
  status?: number; // HTTP status, when the error came from a response
  closeCode?: number; // WebSocket close code, when it came from a close
}

/**
 * A failure classified once, where it is first seen: retryable (network, 5xx, 429, clock skew,
 * replay) or fatal (revoked, rejected, unknown agent, bad signature, token problems).
 */
export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly kind: ErrorKind,
    readonly details: AgentErrorDetails = {},
  ) {
    super(message);
    this.name = 'AgentError';
  }

  get fatal(): boolean {
    return this.kind === 'fatal';
  }

  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }

  /** 3 when the control plane refused this agent for good, 1 for any other fatal error. */
  get exitCode(): number {
    return REFUSED_CODES.has(this.code) ? EXIT_CODES.refused : EXIT_CODES.failure;
  }
}

/** A setting, flag or local file is wrong: the agent refuses to start and says which. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function classifyCode(code: string, message: string, details: AgentErrorDetails): AgentError {
  return new AgentError(code, message, FATAL_CODES.has(code) || REFUSED_CODES.has(code) ? 'fatal' : 'retryable', details);
}

/** Seconds or an HTTP date, as RFC 9110 allows; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const trimmed = raw.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(trimmed)) ms = Math.round(Number(trimmed) * 1000);
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** The `{error: {code, message}}` body every control-plane endpoint returns, when there is one. */
export function parseErrorBody(text: string): { code: string; message: string } | null {
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    return parsed.success ? { code: parsed.data.error.code, message: parsed.data.error.message } : null;
  } catch {
    return null;
  }
}

/** Classifies a non-success HTTP answer (including a refused WebSocket upgrade). */
export function classifyHttpResponse(status: number, headers: IncomingHttpHeaders, text: string, what: string): AgentError {
  const body = parseErrorBody(text);
  const details: AgentErrorDetails = { status, retryAfterMs: parseRetryAfter(headers['retry-after']) };
  if (body) {
    const message = `${body.code}: ${body.message}`;
    if (status === 429) return new AgentError('RATE_LIMITED', message, 'retryable', details);
    if (status >= 500) return new AgentError('SERVER_ERROR', `${what} failed with HTTP ${status}: ${message}`, 'retryable', details);
    return classifyCode(body.code, message, details);
  }
  if (status === 429) return new AgentError('RATE_LIMITED', `${what} was rate limited (HTTP 429)`, 'retryable', details);
  if (status >= 500) return new AgentError('SERVER_ERROR', `${what} failed with HTTP ${status}`, 'retryable', details);
  if (status === 407)
    return new AgentError('PROXY_AUTH_REQUIRED', `${what}: the proxy wants credentials (HTTP 407); put them in the proxy URL (http://user:password@proxy:port)`, 'retryable', details);
  // Not an answer from the control plane (a proxy, a load balancer, a wrong URL): keep trying, loudly.
  return new AgentError(`HTTP_${status}`, `${what} got HTTP ${status} without a Corral error body; is the server URL right, and does a proxy stand in between?`, 'retryable', details);
}

/** Close reasons carry `CODE: message`; 4029 reasons also carry `retry-after=<seconds>`. */
export function classifyClose(code: number, reason: string): AgentError {
  const match = /^([A-Z][A-Z0-9_]*):\s*(.*)$/s.exec(reason);
  const reasonCode = match?.[1];
  const text = reason || `code ${code}`;
  const details: AgentErrorDetails = { closeCode: code };

  if (code === CLOSE_CODES.refused) return new AgentError(reasonCode && REFUSED_CODES.has(reasonCode) ? reasonCode : 'AGENT_REFUSED', text, 'fatal', details);
  if (reasonCode && FATAL_CODES.has(reasonCode)) return new AgentError(reasonCode, text, 'fatal', details);
  if (code === CLOSE_CODES.rateLimited) {
    const seconds = /retry-after=(\d+)/i.exec(reason)?.[1];
    return new AgentError('RATE_LIMITED', text, 'retryable', { ...details, retryAfterMs: seconds === undefined ? undefined : parseRetryAfter(seconds) });
  }
  if (code === CLOSE_CODES.clockSkew) return new AgentError('CLOCK_SKEW', text, 'retryable', details);
  if (code === CLOSE_CODES.draining) return new AgentError('DRAINING', `the server is draining (${text})`, 'retryable', details);
  if (code === 1006) return new AgentError('NETWORK', 'the connection dropped without a close frame', 'retryable', details);
  if (reasonCode) return new AgentError(reasonCode, text, 'retryable', details);
  return new AgentError('CLOSED', `the server closed the connection (code ${code}${reason ? `: ${reason}` : ''})`, 'retryable', details);
}

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
]);

/** What to do about a transport-level failure, in words an operator can act on. */
export function networkHint(code: string | undefined): string {
  if (!code) return '';
  if (TLS_TRUST_CODES.has(code)) return ' (the certificate is not trusted: pass --ca-file or set CORRAL_CA_FILE to the CA bundle that signed it)';
  if (code === 'CERT_HAS_EXPIRED') return " (the server certificate has expired, or this host's clock is wrong)";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return ' (the certificate does not name this host: check the server URL)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return ' (DNS cannot resolve the host: check the server URL and /etc/resolv.conf)';
  if (code === 'ECONNREFUSED') return ' (nothing listens there: is the control plane up, and the port right?)';
  if (code === 'ETIMEDOUT' || code === 'TIMEOUT') return ' (no answer in time: a firewall may drop outbound traffic; try a proxy)';
  return '';
}

/** The message of anything thrown; errors from another realm (a VM context) are not `instanceof Error`. */
export function messageOf(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : String(err);
}

const TLS_CERTIFICATE_CODES = new Set([...TLS_TRUST_CODES, 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/**
 * Network, DNS, TLS and timeout failures: always retryable (a server's certificate or a proxy's
 * rules may be fixed while the agent waits). A certificate the agent will not trust is
 * TLS_CERTIFICATE and a proxy refusing the tunnel (403, 407) PROXY_REFUSED, so that an
 * interactive command can stop at once instead of trying again what cannot work.
 */
export function classifyNetworkError(err: unknown, target: string): AgentError {
  if (err instanceof AgentError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = messageOf(err);
  const errorCode = code && TLS_CERTIFICATE_CODES.has(code) ? 'TLS_CERTIFICATE' : code && /^PROXY_4\d\d$/.test(code) ? 'PROXY_REFUSED' : 'NETWORK';
  // A proxy's refusal already says its HTTP status in words; PROXY_407 in front would only repeat it.
  const shown = code && !message.includes(code) && errorCode !== 'PROXY_REFUSED' ? `${code} ${message}` : message;
  return new AgentError(errorCode, `cannot reach ${target}: ${shown}${networkHint(code)}`, 'retryable');
}

/** The message an operator reads when the agent stops for good, with what to do next. */
export function describeFatal(error: AgentError, files: { identity: string; key: string }, agentName: string): string {
  const startOver = `to enroll this host again, stop the agent, remove ${files.identity} and ${files.key}, and run "corral-agent enroll" with a new enrollment token`;
  switch (error.code) {
    case 'AGENT_REVOKED':
      return `agent "${agentName}" was revoked: ${error.message}. It will not connect again; if that was a mistake, ${startOver}.`;
    case 'AGENT_REJECTED':
      return `agent "${agentName}" was rejected by an administrator: ${error.message}. It will not connect again; if the fingerprint was right, ${startOver}.`;
    case 'AGENT_REFUSED':
      return `the control plane refused agent "${agentName}" (${error.message}); ${startOver}.`;
    case 'AGENT_UNKNOWN':
      return `the control plane does not know agent "${agentName}" (${error.message}): check that --server points at the control plane this agent enrolled with; otherwise ${startOver}.`;
    case 'BAD_SIGNATURE':
      return `the control plane refused this agent's signature (${error.message}): ${files.key} may not be the key that enrolled; ${startOver}.`;
    default:
      return error.message;
  }
}
