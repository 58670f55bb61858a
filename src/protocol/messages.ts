import { z } from 'zod';

// Every message the agent and the control plane exchange, with one schema each.
// Both sides parse what they receive with these schemas; nothing is trusted as-is.

export const PROTOCOL_VERSION = 1;

export const AGENT_STATUSES = ['pending', 'approved', 'rejected', 'revoked'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const TRANSPORTS = ['websocket', 'long-poll'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** The host sysadmin's local policy, as the agent reports it. */
export const LocalPolicySchema = z.object({
  source: z.string().max(500),
  allowedJobKinds: z.array(z.string().max(64)).max(50),
  allowScripts: z.boolean(),
  runAs: z.string().max(64).nullable(),
  allowedOrganizations: z.array(z.string().max(100)).max(50).nullable(),
  frozen: z.boolean(),
});
export type LocalPolicy = z.infer<typeof LocalPolicySchema>;

const HostFacts = {
  hostname: z.string().min(1).max(255),
  os: z.string().max(100),
  arch: z.string().max(32),
  agentVersion: z.string().max(50),
};

/** POST /api/agent/v1/enroll, signed with the new key (agent id "enroll"). */
export const EnrollRequestSchema = z.object({
  token: z.string().regex(/^crl_enr_[0-9A-Za-z]{40}$/, 'token must be an enrollment token (starts with crl_enr_)'),
  publicKey: z.string().min(40).max(100),
  name: z.string().trim().min(1).max(100).regex(/^[\w.@-]+$/, 'name may use letters, digits, ".", "_", "@" and "-"'),
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
});
export type AgentHello = z.infer<typeof AgentHelloSchema>;

export const AgentMessageSchema = z.discriminatedUnion('type', [AgentHelloSchema]);

/** POST /api/agent/v1/poll: the hello, plus the status the agent last verified (null at first). */
export const PollRequestSchema = AgentHelloSchema.extend({ knownStatus: z.enum(AGENT_STATUSES).nullable() });
export type PollRequest = z.infer<typeof PollRequestSchema>;

/** GET /api/agent/v1/whoami (signed): lets `doctor` test authentication on its own. */
export const WhoAmIResponseSchema = z.object({ agentId: z.string().uuid(), name: z.string(), status: z.enum(AGENT_STATUSES) });
export type AgentMessage = z.infer<typeof AgentMessageSchema>;

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

export const SignedPayloadSchema = StatusPayloadSchema; // later: job offers join this union
export type SignedPayload = z.infer<typeof SignedPayloadSchema>;

export const SignedEnvelopeSchema = z.object({
  type: z.literal('signed'),
  keyId: z.string(),
  payload: z.string().max(1_000_000), // JSON of a SignedPayload, verified before it is parsed
  signature: z.string(),
});
export type SignedEnvelope = z.infer<typeof SignedEnvelopeSchema>;

/** Ask the agent to reconnect (to any node) after a jittered delay, e.g. when a node drains. */
export const ReconnectMessageSchema = z.object({ type: z.literal('server.reconnect'), v: z.literal(PROTOCOL_VERSION), maxDelayMs: z.number().int().min(0) });

export const ServerMessageSchema = z.discriminatedUnion('type', [SignedEnvelopeSchema, ReconnectMessageSchema]);
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
} as const;

/** Longest a long-poll is held: below the idle timeouts of common corporate proxies. */
export const LONG_POLL_HOLD_MS = 25_000;
