import { isIP } from 'node:net';
import { resolve } from 'node:path';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'json' | 'pretty';

/** The whole configuration of a control-plane node, read once at boot. */
export interface CorralConfig {
  port: number;
  host: string;
  publicUrl: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  dataDir: string;
  embeddedPostgresPort: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  bodyLimitBytes: number;
  sessionTtlHours: number;
  authRateLimitPerIp: number;
  authRateLimitPerAccount: number;
  authRateLimitWindowSeconds: number;
  /** Express's `trust proxy`: false, how many proxies are in front, or their addresses. */
  trustProxy: false | number | string[];
  runMigrations: boolean;
  agentClockSkewSeconds: number;
  agentPingSeconds: number;
  agentConnectsPerSecond: number;
  jobLeaseSeconds: number;
  jobOfferTimeoutSeconds: number;
  jobDeliveryTimeoutSeconds: number;
  jobCancelGraceSeconds: number;
  jobLogMaxBytes: number;
  orgMaxQueuedTasks: number;
  orgApiRequestsPerSecond: number;
  apiRequestsPerSecondPerIp: number;
  orgMaxRunningJobs: number;
  orgMaxLiveConnections: number;
  liveConnectionsPerIp: number;
  jobRequerySeconds: number;
  nodeHeartbeatSeconds: number;
  nodeDeadAfterSeconds: number;
  metricsToken: string | undefined;
  platformOperators: string[] | undefined;
  metricsLog: string | undefined;
  metricsLogMaxBytes: number;
  secretsKey: Buffer | undefined;
}

interface Variable<K extends keyof CorralConfig> {
  key: K;
  env: string;
  default: string | undefined;
  unit: string;
  secret?: boolean;
  doc: string;
  parse: (raw: string) => CorralConfig[K];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

// Parsers throw a plain message; readConfig collects them so every bad variable is reported at once.
function integer(min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`must be a whole number between ${min} and ${max}, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function oneOf<T extends string>(...values: T[]) {
  return (raw: string): T => {
    const v = raw.trim().toLowerCase() as T;
    if (!values.includes(v)) throw new Error(`must be one of ${values.join(', ')}, got "${raw}"`);
    return v;
  };
}

function boolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error(`must be true or false, got "${raw}"`);
}

function url(protocols: string[]) {
  return (raw: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new Error(`must be a URL (${protocols.join(' or ')}), got "${redactUrl(raw)}"`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new Error(`must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
    }
    return raw;
  };
}

function nonEmpty(raw: string): string {
  if (!raw.trim()) throw new Error('must not be empty');
  return raw.trim();
}

export const MAKE_SECRETS_KEY = `make one with "openssl rand -base64 32" (or node -e "console.log(require('node:crypto').randomBytes(32).toString('base64'))")`;

/** A 32-byte key written in base64; the message never repeats the value, which is a secret. */
export function secretsKey(raw: string): Buffer {
  const text = raw.trim();
  const key = Buffer.from(text, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || key.length !== 32) {
    throw new Error(`must be 32 random bytes in base64 (44 characters, got ${text.length}); ${MAKE_SECRETS_KEY}`);
  }
  return key;
}

/**
 * TRUST_PROXY as Express's `trust proxy` takes it. Not on/off: "trust every hop" would let any
 * client name its own address in X-Forwarded-For (and so escape the login rate limit).
 */
function trustProxy(raw: string): false | number | string[] {
  const v = raw.trim().toLowerCase();
  if (['', 'false', 'no', 'off', '0'].includes(v)) return false;
  if (['true', 'yes', 'on'].includes(v))
    throw new Error(`"${raw}" would trust an X-Forwarded-For any client sends; give how many proxies are in front of this node (e.g. 1) or their addresses (e.g. 10.0.0.5, loopback)`);
  if (/^\d+$/.test(v)) return integer(1, 10)(v);
  const list = v
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const bad = list.filter((a) => !['loopback', 'linklocal', 'uniquelocal'].includes(a) && !isSubnet(a));
  if (bad.length) throw new Error(`must be a number of proxies or their addresses (10.0.0.5, 10.1.0.0/16, loopback); ${bad.map((b) => `"${b}"`).join(', ')} is neither`);
  return list;
}

/** An IP address, or one with a prefix length that fits it (10.1.0.0/16, fd00::/8). */
function isSubnet(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** A comma-separated list of email addresses, compared in lower case. */
function emails(raw: string): string[] {
  const list = raw
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  const bad = list.filter((e) => !/^[^@\s]+@[^@\s]+$/.test(e));
  if (bad.length) throw new Error(`must be email addresses separated by commas; ${bad.map((b) => `"${b}"`).join(', ')} is not one`);
  return list;
}

/** Hides the password of a connection URL so it can be printed. */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

// The single list of variables: validation, defaults and the README table all come from here.
export const VARIABLES = [
  { key: 'port', env: 'PORT', default: '3000', unit: 'TCP port', doc: 'port the API, console and agent endpoints listen on', parse: integer(0, 65535) },
  { key: 'host', env: 'HOST', default: '0.0.0.0', unit: 'address', doc: 'interface to listen on (0.0.0.0 = all; agents must reach it)', parse: nonEmpty },
  {
    key: 'publicUrl',
    env: 'CORRAL_PUBLIC_URL',
    default: undefined,
    unit: 'URL',
    doc: 'URL users and agents use to reach this control plane; default http://localhost:PORT. An https URL makes session cookies Secure and every answer carry HSTS',
    parse: url(['http', 'https']),
  },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    default: undefined,
    unit: 'URL',
    secret: true,
    doc: 'PostgreSQL to use; when unset an embedded PostgreSQL is started under CORRAL_DATA_DIR',
    parse: url(['postgres', 'postgresql']),
  },
  {
    key: 'databasePoolSize',
    env: 'DATABASE_POOL_SIZE',
    default: '10',
    unit: 'connections',
    doc: 'database connections of this node for work that waits for the disk; it also opens 4 for work that need not (offers, presence) and one to listen for other nodes',
    parse: integer(1, 500),
  },
  {
    key: 'metricsLog',
    env: 'CORRAL_METRICS_LOG',
    default: undefined,
    unit: 'path',
    doc: 'when set, one JSON line per finished task and per answered API request is appended to this file, for a log shipper (docs/metrics.md)',
    parse: (raw: string) => resolve(nonEmpty(raw)),
  },
  {
    key: 'metricsLogMaxBytes',
    env: 'CORRAL_METRICS_LOG_MAX_BYTES',
    default: '104857600',
    unit: 'bytes',
    doc: 'size past which the metrics log is renamed to .1 (up to .3 kept) and a new one begun',
    parse: integer(4096, 1024 ** 4),
  },
  {
    key: 'dataDir',
    env: 'CORRAL_DATA_DIR',
    default: './.corral',
    unit: 'path',
    doc: 'where the embedded PostgreSQL keeps its data (unused with DATABASE_URL)',
    parse: (raw: string) => resolve(nonEmpty(raw)),
  },
  {
    key: 'embeddedPostgresPort',
    env: 'EMBEDDED_POSTGRES_PORT',
    default: '0',
    unit: 'TCP port',
    doc: 'port of the embedded PostgreSQL on 127.0.0.1; 0 = reuse the last one if free, else pick a free one',
    parse: integer(0, 65535),
  },
  { key: 'logLevel', env: 'LOG_LEVEL', default: 'info', unit: 'level', doc: 'debug, info, warn or error', parse: oneOf<LogLevel>('debug', 'info', 'warn', 'error') },
  { key: 'logFormat', env: 'LOG_FORMAT', default: 'auto', unit: 'format', doc: 'json, pretty, or auto (pretty on a terminal, JSON otherwise)', parse: oneOf<LogFormat>('auto', 'json', 'pretty') },
  { key: 'bodyLimitBytes', env: 'HTTP_BODY_LIMIT_BYTES', default: '1048576', unit: 'bytes', doc: 'largest accepted request body; larger ones get 413', parse: integer(1024, 1024 * 1024 * 1024) },
  { key: 'sessionTtlHours', env: 'SESSION_TTL_HOURS', default: '168', unit: 'hours', doc: 'how long a console session lasts after login', parse: integer(1, 24 * 365) },
  {
    key: 'authRateLimitPerIp',
    env: 'AUTH_RATE_LIMIT_PER_IP',
    default: '30',
    unit: 'attempts per window',
    doc: 'login and signup attempts one IP address may make per window',
    parse: integer(1, 1_000_000),
  },
  {
    key: 'authRateLimitPerAccount',
    env: 'AUTH_RATE_LIMIT_PER_ACCOUNT',
    default: '10',
    unit: 'attempts per window',
    doc: 'login attempts against one account per window',
    parse: integer(1, 1_000_000),
  },
  { key: 'authRateLimitWindowSeconds', env: 'AUTH_RATE_LIMIT_WINDOW_SECONDS', default: '300', unit: 'seconds', doc: 'length of the rate-limit window', parse: integer(1, 86_400) },
  {
    key: 'trustProxy',
    env: 'TRUST_PROXY',
    default: 'false',
    unit: 'hops or addresses',
    doc: 'the reverse proxies in front of this node whose X-Forwarded-For/-Proto count: how many (1 = the one nginx in front), or their addresses and subnets (10.0.0.5, 10.1.0.0/16, loopback); false = none. The client is then the address the last trusted proxy saw, whatever a client sends (`true` is refused: it would believe any client)',
    parse: trustProxy,
  },
  { key: 'runMigrations', env: 'RUN_MIGRATIONS', default: 'true', unit: 'boolean', doc: 'apply pending migrations at start-up (under an advisory lock)', parse: boolean },
  {
    key: 'agentClockSkewSeconds',
    env: 'AGENT_CLOCK_SKEW_SECONDS',
    default: '300',
    unit: 'seconds',
    doc: 'largest clock difference accepted in a signed agent request; also how long its nonce is remembered',
    parse: integer(5, 3600),
  },
  {
    key: 'agentPingSeconds',
    env: 'AGENT_PING_SECONDS',
    default: '20',
    unit: 'seconds',
    doc: 'how often the control plane checks on each WebSocket agent, pinging one it has not heard from since; a silent connection is dropped after three unanswered pings',
    parse: integer(1, 300),
  },
  {
    key: 'agentConnectsPerSecond',
    env: 'AGENT_CONNECTS_PER_SECOND',
    default: '1000',
    unit: 'connections per second',
    doc: 'agent connections one node admits per second; beyond that agents are told when to come back (429 with Retry-After), each a later second, so a restart cannot cause a reconnect storm',
    parse: integer(1, 100000),
  },
  {
    key: 'jobLeaseSeconds',
    env: 'JOB_LEASE_SECONDS',
    default: '60',
    unit: 'seconds',
    doc: 'how long a running job survives without a heartbeat; then it becomes unknown (or is retried when its task is idempotent)',
    parse: integer(5, 3600),
  },
  {
    key: 'jobOfferTimeoutSeconds',
    env: 'JOB_OFFER_TIMEOUT_SECONDS',
    default: '30',
    unit: 'seconds',
    doc: 'how long an offered job waits for the agent to accept before it is queued again',
    parse: integer(1, 3600),
  },
  {
    key: 'jobDeliveryTimeoutSeconds',
    env: 'JOB_DELIVERY_TIMEOUT_SECONDS',
    default: '900',
    unit: 'seconds',
    doc: 'a job no agent accepted within this long fails, saying so',
    parse: integer(5, 604800),
  },
  { key: 'jobCancelGraceSeconds', env: 'JOB_CANCEL_GRACE_SECONDS', default: '10', unit: 'seconds', doc: 'between SIGTERM and SIGKILL when a job is cancelled', parse: integer(0, 3600) },
  {
    key: 'jobLogMaxBytes',
    env: 'JOB_LOG_MAX_BYTES',
    default: '10485760',
    unit: 'bytes',
    doc: "largest log kept per job attempt, unless a platform operator set the organisation's own; the rest is dropped behind a visible truncation marker",
    parse: integer(1024, 1073741824),
  },
  {
    key: 'orgMaxQueuedTasks',
    env: 'ORG_MAX_QUEUED_TASKS',
    default: '10000',
    unit: 'tasks',
    doc: 'tasks one organisation may have waiting to start, unless a platform operator set its own; one more is refused (429 QUEUE_FULL)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'orgApiRequestsPerSecond',
    env: 'ORG_API_REQUESTS_PER_SECOND',
    default: '300',
    unit: 'requests/s',
    doc: "API requests a second one API key or console session may make on a node (bursts of twice that), unless a platform operator set the organisation's own; beyond it, 429 with Retry-After",
    parse: integer(1, 1_000_000),
  },
  {
    key: 'apiRequestsPerSecondPerIp',
    env: 'API_REQUESTS_PER_SECOND_PER_IP',
    default: '1000',
    unit: 'requests/s',
    doc: "API requests a second one client address may make on a node (bursts of twice that), whoever it is; beyond it, 429 with Retry-After. Agents' own protocol requests are not counted",
    parse: integer(1, 1_000_000),
  },
  {
    key: 'orgMaxRunningJobs',
    env: 'ORG_MAX_RUNNING_JOBS',
    default: '5000',
    unit: 'jobs',
    doc: 'jobs one organisation may have offered or running at once, unless a platform operator set its own; the rest wait in the queue (nothing is refused)',
    parse: integer(1, 10_000_000),
  },
  {
    key: 'orgMaxLiveConnections',
    env: 'ORG_MAX_LIVE_CONNECTIONS',
    default: '20000',
    unit: 'connections',
    doc: "live connections one organisation may hold open on a node, its agents' WebSockets and its console event streams together, unless a platform operator set its own; beyond it, 429 (a WebSocket is closed with 4029) with Retry-After",
    parse: integer(1, 10_000_000),
  },
  {
    key: 'liveConnectionsPerIp',
    env: 'LIVE_CONNECTIONS_PER_IP',
    default: '200',
    unit: 'connections',
    doc: "console event streams (live logs, agent changes) one client address may hold open on a node, whoever it is; beyond it, 429 with Retry-After. Agents' WebSockets are not counted: many agents share an address behind NAT",
    parse: integer(1, 10_000_000),
  },
  {
    key: 'jobRequerySeconds',
    env: 'JOB_REQUERY_SECONDS',
    default: '15',
    unit: 'seconds',
    doc: 'how often a node re-checks for work it was not notified of (the backstop behind LISTEN/NOTIFY), and sweeps expired offers and leases',
    parse: integer(1, 600),
  },
  { key: 'nodeHeartbeatSeconds', env: 'NODE_HEARTBEAT_SECONDS', default: '10', unit: 'seconds', doc: 'how often a control-plane node records that it is alive', parse: integer(1, 300) },
  {
    key: 'platformOperators',
    env: 'CORRAL_PLATFORM_OPERATORS',
    default: undefined,
    unit: 'emails',
    doc: 'accounts (comma-separated emails) that run this control plane: only they may do what affects every organisation (drain or undrain a node, see every organisation’s work, set its limits); to anyone else those routes do not exist (404)',
    parse: emails,
  },
  {
    key: 'metricsToken',
    env: 'METRICS_TOKEN',
    default: undefined,
    unit: 'secret',
    secret: true,
    doc: 'when set, /metrics requires "Authorization: Bearer <token>"; when unset, /metrics answers only callers on loopback (set it to scrape from another host or container)',
    parse: (raw: string) => raw,
  },
  {
    key: 'nodeDeadAfterSeconds',
    env: 'NODE_DEAD_AFTER_SECONDS',
    default: '45',
    unit: 'seconds',
    doc: "a node silent this long is presumed dead: another node takes over its agents' presence",
    parse: integer(3, 3600),
  },
  {
    key: 'secretsKey',
    env: 'CORRAL_SECRETS_KEY',
    default: undefined,
    unit: '32 bytes, base64',
    secret: true,
    doc: 'master key of the sensitive values stored (docs/secrets.md); every node of a cluster needs the same one, and with DATABASE_URL it is required. Unset on the embedded PostgreSQL: one is made once in CORRAL_DATA_DIR/secrets.key',
    parse: secretsKey,
  },
] as const satisfies readonly Variable<keyof CorralConfig>[];

/**
 * Reads and validates the configuration from an environment.
 * Throws ConfigError listing every bad variable; never returns a partial config.
 */
export function readConfig(env: Record<string, string | undefined> = process.env): CorralConfig {
  const problems: string[] = [];
  const config: Partial<Record<keyof CorralConfig, unknown>> = {};
  for (const variable of VARIABLES as readonly Variable<keyof CorralConfig>[]) {
    const raw = env[variable.env];
    const value = raw === undefined || raw === '' ? variable.default : raw;
    if (value === undefined) {
      config[variable.key] = undefined;
      continue;
    }
    try {
      config[variable.key] = variable.parse(value);
    } catch (err) {
      problems.push(`${variable.env}: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  const result = config as CorralConfig;
  result.publicUrl = (result.publicUrl ?? `http://localhost:${result.port}`).replace(/\/+$/, '');
  return result;
}
