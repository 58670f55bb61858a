import { z } from 'zod';

// Every message the agent and the control plane exchange, with one schema each.
// Both sides parse what they receive with these schemas; nothing is trusted as-is.
// A WebSocket frame carries one message, or several as a JSON array, in order; either side may
// send several together and must accept both forms.

export const PROTOCOL_VERSION = 1;

export const MAX_JOBS_PER_AGENT = 64;

export const AGENT_STATUSES = ['pending', 'approved', 'rejected', 'revoked'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const TRANSPORTS = ['websocket', 'long-poll'] as const;
export type Transport = (typeof TRANSPORTS)[number];

// A UTF-16 surrogate without its other half.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text the control plane stores as it is: PostgreSQL's text cannot hold U+0000, nor its jsonb
 * (where policies and health results go) half of a surrogate pair, so a message with either is
 * refused as malformed instead of failing in the database. (Log output may carry any character:
 * the server keeps a NUL in it as U+FFFD.)
 */
const text = (max: number, min = 0) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters (\\u0000)' })
    .refine((s) => !LONE_SURROGATE.test(s), { message: 'must not contain half of a UTF-16 surrogate pair' });

/** The host sysadmin's local policy, as the agent reports it. */
export const LocalPolicySchema = z.object({
  source: text(500),
  allowedJobKinds: z.array(text(64)).max(50),
  allowScripts: z.boolean(),
  runAs: text(64).nullable(),
  allowedOrganizations: z.array(text(100)).max(50).nullable(),
  frozen: z.boolean(),
  /** Names of the agent's environment variables a job also gets, beyond the agent's allow-list. */
  jobEnvironment: z.array(text(100)).max(100).optional(),
  /** Jobs get the agent's proxy settings with their credentials. */
  passProxyCredentials: z.boolean().optional(),
  /**
   * Why the policy file cannot be used (unreadable, invalid, writable by others): the host then
   * runs no work until it is fixed. Such a policy is also frozen and allows nothing, so that a
   * control plane that does not know this field refuses everything too.
   */
  error: text(1000).optional(),
});
export type LocalPolicy = z.infer<typeof LocalPolicySchema>;

const HostFacts = {
  hostname: text(255, 1),
  os: text(100),
  arch: text(32),
  agentVersion: text(50),
};

/** POST /api/agent/v1/enroll, signed with the new key (agent id "enroll"). */
export const EnrollRequestSchema = z.object({
  token: z.string().regex(/^crl_enr_[0-9A-Za-z]{40}$/, 'token must be an enrollment token (starts with crl_enr_)'),
  publicKey: z.string().min(40).max(100),
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[\w.@-]+$/, 'name may use letters, digits, ".", "_", "@" and "-"'),
  ...HostFacts,
  policy: LocalPolicySchema.nullable(),
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

export const ServerKeySchema = z.object({ keyId: z.string(), publicKey: z.string(), fingerprint: z.string() });
export type ServerKey = z.infer<typeof ServerKeySchema>;

export const EnrollResponseSchema = z.object({
  agentId: z.string().uuid(),
  name: z.string(),
  fingerprint: z.string(),
  verificationCode: z.string(),
  status: z.enum(AGENT_STATUSES),
  conflictsWith: z.string().uuid().nullable(),
  serverKeys: z.array(ServerKeySchema).min(1),
});
export type EnrollResponse = z.infer<typeof EnrollResponseSchema>;

/** First message on a WebSocket, and the body of every long-poll: what the host is now. */
export const AgentHelloSchema = z.object({
  type: z.literal('agent.hello'),
  v: z.literal(PROTOCOL_VERSION),
  ...HostFacts,
  policy: LocalPolicySchema.nullable(),
  /** How many jobs this agent runs at once (`--max-jobs`); the server never offers more. */
  maxJobs: z.number().int().min(1).max(MAX_JOBS_PER_AGENT).default(1),
  /** The server key ids this agent trusts; when they differ from the server's, it sends `server.keys`. */
  pinnedKeys: z.array(z.string().max(64)).max(20).optional(),
});
export type AgentHello = z.input<typeof AgentHelloSchema>;

/** POST /api/agent/v1/poll: the hello, plus the status the agent last verified (null at first). */
export const PollRequestSchema = AgentHelloSchema.extend({ knownStatus: z.enum(AGENT_STATUSES).nullable() });
export type PollRequest = z.infer<typeof PollRequestSchema>;

/** GET /api/agent/v1/whoami (signed): lets `doctor` test authentication on its own. */
export const WhoAmIResponseSchema = z.object({ agentId: z.string().uuid(), name: z.string(), status: z.enum(AGENT_STATUSES) });

/** Signed by the control plane: the agent acts on its approval state only through this. */
export const StatusPayloadSchema = z.object({
  type: z.literal('server.status'),
  v: z.literal(PROTOCOL_VERSION),
  agentId: z.string().uuid(),
  status: z.enum(AGENT_STATUSES),
  reason: z.string().max(500).nullable(),
  issuedAt: z.number().int(),
});
export type StatusPayload = z.infer<typeof StatusPayloadSchema>;

// ---- Jobs -------------------------------------------------------------------------------
//
// offer (signed; several at once come as server.job.offers) ─► agent.job.accept ─► server.job.start ─► log chunks, heartbeats ─► agent.job.finish ─► server.job.finishAck
//        └─► agent.job.refuse (policy, busy)        └─► server.job.gone: do not start it (cancelled, expired, reassigned)
// server.job.cancel (signed) may arrive at any point; the agent stops the job and finishes it as cancelled.
// Every message names the job and its attempt; a message about another attempt is stale and ignored.

export const SCRIPT_SYNTAXES = ['bash', 'sh', 'node', 'pwsh'] as const;
export type ScriptSyntax = (typeof SCRIPT_SYNTAXES)[number];

/** Every kind of job a host's local policy can name; each kind with a payload has a schema below. */
export const JOB_KINDS = ['script', 'deployment', 'health-check'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** How a job the agent ran ended, as the agent reports it. */
export const JOB_OUTCOMES = ['succeeded', 'failed', 'timed_out', 'cancelled'] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

/** `system` lines are the agent's own words about the job (started as, killed after, ...). */
export const LOG_STREAMS = ['stdout', 'stderr', 'system'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

/** Largest text of one log chunk, in UTF-16 code units (what JSON strings count). */
export const MAX_LOG_CHUNK_CHARS = 64 * 1024;
export const MAX_SCRIPT_CHARS = 256 * 1024;
/** Sensitive values one job may carry (and mask). */
export const MAX_SENSITIVE_VALUES = 100;
/** Values one deployment step may see. */
export const MAX_STEP_VARIABLES = 2000;

/**
 * A whole number the control plane stores in a PostgreSQL integer column (attempts, log sequences,
 * exit codes): one beyond its range is refused as malformed instead of failing in the database.
 */
const INT32_MAX = 2 ** 31 - 1;
const int32 = () =>
  z
    .number()
    .int()
    .min(-(2 ** 31))
    .max(INT32_MAX, { message: `must be at most ${INT32_MAX}` });

const JobRef = { jobId: z.string().uuid(), attempt: int32().min(1) };

// An agent's job messages carry the protocol version (one from before they did is taken as version 1);
// the control plane's replies belong to the message they answer.
const version = { v: z.literal(PROTOCOL_VERSION).default(PROTOCOL_VERSION) };

// ---- Job payloads: what a job asks the agent to do, one schema per kind -------------------------
//
// A job row holds its kind and its payload; the offer is the job's identity plus that payload.
// Each payload has its own version, so a kind can change shape without a new protocol version.

export const ScriptPayloadSchema = z.object({
  kind: z.literal('script'),
  payloadVersion: z.literal(1).default(1),
  script: z.object({ syntax: z.enum(SCRIPT_SYNTAXES), body: z.string().max(MAX_SCRIPT_CHARS) }),
});

/** No user code: the agent gathers facts about itself and its host and judges them. */
export const HealthCheckPayloadSchema = z.object({
  kind: z.literal('health-check'),
  payloadVersion: z.literal(1).default(1),
});

/**
 * One step of a deployment on one agent: a script, with what it is part of (the agent gives it to
 * the script as CORRAL_* variables). From version 2 the script is a template: the agent replaces
 * its `#{Name}` references with `variables` (values already expanded by the control plane) and
 * `sensitiveVariables`, whose values are the offer's `sensitiveValues` at index `secret`, so
 * they travel only as the job's secrets, masked wherever the job prints them.
 */
export const DeploymentPayloadSchema = z.object({
  kind: z.literal('deployment'),
  payloadVersion: z.union([z.literal(1), z.literal(2)]).default(1),
  script: ScriptPayloadSchema.shape.script,
  deployment: z.object({
    id: z.string().uuid(),
    project: z.string().max(200),
    release: z.string().max(100),
    environment: z.string().max(200),
    step: z.string().max(200),
  }),
  variables: z
    .array(z.object({ name: z.string().max(200), value: z.string().max(MAX_SCRIPT_CHARS) }))
    .max(MAX_STEP_VARIABLES)
    .default([]),
  sensitiveVariables: z
    .array(
      z.object({
        name: z.string().max(200),
        secret: z
          .number()
          .int()
          .min(0)
          .max(MAX_SENSITIVE_VALUES - 1),
      }),
    )
    .max(MAX_SENSITIVE_VALUES)
    .default([]),
});

export const JobPayloadSchema = z.discriminatedUnion('kind', [ScriptPayloadSchema, DeploymentPayloadSchema, HealthCheckPayloadSchema]);
export type JobPayload = z.infer<typeof JobPayloadSchema>;
/** The kinds that have a payload: what the control plane can queue today. */
export type PayloadKind = JobPayload['kind'];

export const HEALTH_VERDICTS = ['healthy', 'warning', 'unhealthy'] as const;
export type HealthVerdict = (typeof HEALTH_VERDICTS)[number];
export const INTERPRETERS = ['bash', 'sh', 'node', 'pwsh'] as const;

/** What a health check found, as the agent reports it with the job's finish. */
export const HealthCheckResultSchema = z.object({
  kind: z.literal('health-check'),
  payloadVersion: z.literal(1).default(1),
  verdict: z.enum(HEALTH_VERDICTS),
  /** Why the verdict is not `healthy`, one line each. */
  problems: z.array(text(500)).max(20),
  facts: z.object({
    agentVersion: text(50),
    hostname: text(255),
    os: text(100),
    arch: text(32),
    uptimeSeconds: z.number().int().min(0),
    /** The agent's own clock when it checked (ms since the epoch): the control plane measures the offset. */
    checkedAt: z.number().int(),
    stateDir: z.object({ path: text(1000), freeBytes: z.number().min(0), totalBytes: z.number().min(0), writable: z.boolean() }),
    /** Each interpreter's path and version, or null when it was not found. */
    interpreters: z.record(z.enum(INTERPRETERS), z.object({ path: text(1000), version: text(200).nullable() }).nullable()),
    policy: LocalPolicySchema,
  }),
});
export type HealthCheckResult = z.infer<typeof HealthCheckResultSchema>;

/** What a job hands back beside its outcome, for kinds that have something to say. */
export const JobResultSchema = z.discriminatedUnion('kind', [HealthCheckResultSchema]);
export type JobResult = z.infer<typeof JobResultSchema>;

const OfferFields = {
  type: z.literal('server.job.offer'),
  v: z.literal(PROTOCOL_VERSION),
  agentId: z.string().uuid(),
  ...JobRef,
  taskId: z.string().uuid(),
  organizationId: z.string().uuid(),
  name: z.string().max(200),
  timeoutSeconds: z.number().int().min(1),
  /** Masked out of the job's output before the agent spools or sends it. */
  sensitiveValues: z.array(z.string()).max(MAX_SENSITIVE_VALUES),
  issuedAt: z.number().int(),
};

/** Signed: run this (the job's identity, then its kind and payload). The agent checks its ledger and its local policy before accepting. */
export const JobOfferPayloadSchema = z.discriminatedUnion('kind', [
  ScriptPayloadSchema.extend(OfferFields),
  DeploymentPayloadSchema.extend(OfferFields),
  HealthCheckPayloadSchema.extend(OfferFields),
]);
export type JobOfferPayload = z.infer<typeof JobOfferPayloadSchema>;

/** Signed: several offers under one signature (a claim that found more than one job); each is handled as if it came alone. */
export const JobOffersPayloadSchema = z.object({
  type: z.literal('server.job.offers'),
  v: z.literal(PROTOCOL_VERSION),
  agentId: z.string().uuid(),
  offers: z.array(JobOfferPayloadSchema).min(1).max(MAX_JOBS_PER_AGENT),
  issuedAt: z.number().int(),
});
export type JobOffersPayload = z.infer<typeof JobOffersPayloadSchema>;

/** Signed: stop this job (SIGTERM to its process group, SIGKILL after `graceSeconds`). */
export const JobCancelPayloadSchema = z.object({
  type: z.literal('server.job.cancel'),
  v: z.literal(PROTOCOL_VERSION),
  agentId: z.string().uuid(),
  ...JobRef,
  reason: z.string().max(500),
  graceSeconds: z.number().int().min(0),
  issuedAt: z.number().int(),
});
export type JobCancelPayload = z.infer<typeof JobCancelPayloadSchema>;

/**
 * Signed: the server keys to trust from now on (key rotation). Signed by a key the agent
 * already pins, so only the control plane itself can hand over trust to a new key.
 */
export const ServerKeysPayloadSchema = z.object({
  type: z.literal('server.keys'),
  v: z.literal(PROTOCOL_VERSION),
  agentId: z.string().uuid(),
  keys: z.array(ServerKeySchema).min(1).max(20),
  issuedAt: z.number().int(),
});
export type ServerKeysPayload = z.infer<typeof ServerKeysPayloadSchema>;

export const SignedPayloadSchema = z.discriminatedUnion('type', [StatusPayloadSchema, JobOfferPayloadSchema, JobOffersPayloadSchema, JobCancelPayloadSchema, ServerKeysPayloadSchema]);
export type SignedPayload = z.infer<typeof SignedPayloadSchema>;

/** The agent took the offer; it starts the job only when `server.job.start` confirms the lease. */
export const JobAcceptSchema = z.object({ type: z.literal('agent.job.accept'), ...version, ...JobRef });
/** The agent will not run the offered job, and why. `policy` fails the job; `busy` hands it back. */
export const JobRefuseSchema = z.object({
  type: z.literal('agent.job.refuse'),
  ...version,
  ...JobRef,
  reason: z.enum(['policy', 'busy', 'invalid']),
  message: text(1000),
});
/** Renews the leases of jobs still running on the agent. */
export const JobHeartbeatSchema = z.object({ type: z.literal('agent.job.heartbeat'), ...version, jobs: z.array(z.object(JobRef)).max(MAX_JOBS_PER_AGENT) });
/**
 * Output the agent dropped right before a chunk: its spool of unsent output reached its cap
 * (`capBytes`, over all its jobs) while the control plane was unreachable, and the oldest unsent
 * chunks went. The `chunks` sequences before this chunk's are never sent; `bytes` is the output
 * they held.
 */
export const LogDroppedSchema = z.object({
  chunks: z.number().int().min(1),
  bytes: z.number().int().min(0),
  capBytes: z.number().int().min(1),
});
export type LogDropped = z.infer<typeof LogDroppedSchema>;

/**
 * One chunk of output; `seq` counts from 0 per job attempt and the server stores each once. A chunk
 * with `dropped` follows a gap in the sequence, which the server skips, saying so in the log.
 */
export const JobLogSchema = z.object({
  type: z.literal('agent.job.log'),
  ...version,
  ...JobRef,
  // The job then expects seq + 1, which must fit the same column.
  seq: int32()
    .min(0)
    .max(INT32_MAX - 1, { message: `must be below ${INT32_MAX}` }),
  stream: z.enum(LOG_STREAMS),
  text: z.string().max(MAX_LOG_CHUNK_CHARS),
  dropped: LogDroppedSchema.optional(),
});
/** The job ended. Sent after every chunk is acknowledged; `logChunks` is how many there were. */
/** Outputs a job's script set (`corral set-output`), reported with its finish, never through its log. */
export const MAX_JOB_OUTPUTS = 100;
export const MAX_OUTPUT_VALUE_CHARS = 64 * 1024;
export const OUTPUT_NAME = /^[A-Za-z0-9._-]{1,200}$/;
export const JobOutputSchema = z.object({
  name: z.string().regex(OUTPUT_NAME, 'an output name is 1-200 letters, digits, ".", "_" or "-"'),
  value: z.string().max(MAX_OUTPUT_VALUE_CHARS),
  sensitive: z.boolean(),
});
export type JobOutput = z.infer<typeof JobOutputSchema>;

export const JobFinishSchema = z.object({
  type: z.literal('agent.job.finish'),
  ...version,
  ...JobRef,
  outcome: z.enum(JOB_OUTCOMES),
  exitCode: int32().nullable(),
  signal: text(20).nullable(),
  message: text(1000).nullable(),
  logChunks: int32().min(0),
  /** What the job found, for kinds that report something (a health check's facts and verdict). */
  result: JobResultSchema.nullable().default(null),
  outputs: z.array(JobOutputSchema).max(MAX_JOB_OUTPUTS).optional(),
});
export type JobAccept = z.infer<typeof JobAcceptSchema>;
export type JobRefuse = z.infer<typeof JobRefuseSchema>;
export type JobHeartbeat = z.infer<typeof JobHeartbeatSchema>;
export type JobLog = z.infer<typeof JobLogSchema>;
export type JobFinish = z.infer<typeof JobFinishSchema>;

/**
 * The host's local policy changed while the agent runs (its file was edited, replaced, removed
 * or became invalid): the control plane judges the next work by this one. The hello of every
 * later connection carries it too.
 */
export const AgentPolicySchema = z.object({ type: z.literal('agent.policy'), ...version, policy: LocalPolicySchema });
export type AgentPolicy = z.infer<typeof AgentPolicySchema>;

/** What an agent sends about jobs: over its WebSocket, or in `POST /api/agent/v1/messages`. */
export const AgentJobMessageSchema = z.discriminatedUnion('type', [JobAcceptSchema, JobRefuseSchema, JobHeartbeatSchema, JobLogSchema, JobFinishSchema]);
export type AgentJobMessage = z.infer<typeof AgentJobMessageSchema>;
/** A job message as a sender may write it: `v` (and a finish's `result`) may be left to their defaults. */
export type AgentJobMessageInput = z.input<typeof AgentJobMessageSchema>;

/** What an agent sends once connected, on either transport: its job messages and its policy changes. */
export const AgentSessionMessageSchema = z.discriminatedUnion('type', [JobAcceptSchema, JobRefuseSchema, JobHeartbeatSchema, JobLogSchema, JobFinishSchema, AgentPolicySchema]);
export type AgentSessionMessage = z.infer<typeof AgentSessionMessageSchema>;
/** A session message as a sender may write it (defaults left out). */
export type AgentSessionMessageInput = z.input<typeof AgentSessionMessageSchema>;

export const AgentMessageSchema = z.discriminatedUnion('type', [AgentHelloSchema, JobAcceptSchema, JobRefuseSchema, JobHeartbeatSchema, JobLogSchema, JobFinishSchema, AgentPolicySchema]);
export type AgentMessage = z.infer<typeof AgentMessageSchema>;

/** POST /api/agent/v1/messages (signed): job messages (and policy changes) from a long-polling agent; the answer carries the replies. */
export const AgentMessagesRequestSchema = z.object({ messages: z.array(AgentSessionMessageSchema).min(1).max(200) });
export type AgentMessagesRequest = z.infer<typeof AgentMessagesRequestSchema>;

export const SignedEnvelopeSchema = z.object({
  type: z.literal('signed'),
  keyId: z.string(),
  payload: z.string().max(1_000_000), // JSON of a SignedPayload, verified before it is parsed
  signature: z.string(),
});
export type SignedEnvelope = z.infer<typeof SignedEnvelopeSchema>;

/** Ask the agent to reconnect (to any node) after a jittered delay, e.g. when a node drains. */
export const ReconnectMessageSchema = z.object({ type: z.literal('server.reconnect'), v: z.literal(PROTOCOL_VERSION), maxDelayMs: z.number().int().min(0) });

/** The lease is the agent's: start the accepted job now. */
export const JobStartSchema = z.object({ type: z.literal('server.job.start'), ...JobRef, leaseSeconds: z.number().int().min(1) });
/** Do not start (or stop tracking) this job: it was cancelled, expired or given to another attempt. */
export const JobGoneSchema = z.object({ type: z.literal('server.job.gone'), ...JobRef, reason: z.string().max(500) });
/** Every chunk below `nextSeq` is stored; send from `nextSeq` on. */
export const JobLogAckSchema = z.object({ type: z.literal('server.job.logAck'), ...JobRef, nextSeq: z.number().int().min(0) });
/** The job's end is recorded; the agent may forget it (its ledger keeps the id). */
export const JobFinishAckSchema = z.object({ type: z.literal('server.job.finishAck'), ...JobRef });
/** A message the server could not act on; `jobId` names the job when there is one. */
export const ServerErrorMessageSchema = z.object({ type: z.literal('server.error'), jobId: z.string().uuid().nullable(), code: z.string(), message: z.string() });
export type JobStart = z.infer<typeof JobStartSchema>;
export type JobGone = z.infer<typeof JobGoneSchema>;
export type JobLogAck = z.infer<typeof JobLogAckSchema>;
export type JobFinishAck = z.infer<typeof JobFinishAckSchema>;

export const ServerMessageSchema = z.discriminatedUnion('type', [
  SignedEnvelopeSchema,
  ReconnectMessageSchema,
  JobStartSchema,
  JobGoneSchema,
  JobLogAckSchema,
  JobFinishAckSchema,
  ServerErrorMessageSchema,
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** The long-poll answer: whatever is waiting, possibly nothing after the hold time. */
export const PollResponseSchema = z.object({
  messages: z.array(ServerMessageSchema),
  serverTime: z.number().int(),
});
export type PollResponse = z.infer<typeof PollResponseSchema>;

/** Error bodies, as every endpoint returns them. */
export const ErrorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) });

/** Errors after which an agent must stop and tell its operator, instead of retrying. */
export const FATAL_AGENT_ERRORS = [
  'AGENT_REVOKED',
  'AGENT_REJECTED',
  'AGENT_UNKNOWN',
  'BAD_SIGNATURE',
  'ENROLLMENT_TOKEN_INVALID',
  'ENROLLMENT_TOKEN_EXPIRED',
  'ENROLLMENT_TOKEN_REVOKED',
  'ENROLLMENT_TOKEN_USED_UP',
] as const;

/** WebSocket close codes the control plane uses; the reason carries `CODE: message`. */
export const CLOSE_CODES = {
  unauthenticated: 4001,
  refused: 4003, // revoked or rejected
  clockSkew: 4008,
  draining: 4012,
  rateLimited: 4029,
} as const;

export const AGENT_PATHS = {
  enroll: '/api/agent/v1/enroll',
  poll: '/api/agent/v1/poll',
  ws: '/api/agent/v1/ws',
  time: '/api/agent/v1/time',
  whoami: '/api/agent/v1/whoami',
  messages: '/api/agent/v1/messages',
} as const;

/** Longest a long-poll is held: below the idle timeouts of common corporate proxies. */
export const LONG_POLL_HOLD_MS = 25_000;
