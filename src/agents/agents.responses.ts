import { z } from 'zod';
import { AGENT_STATUSES, EnrollResponseSchema, HEALTH_VERDICTS, HealthCheckResultSchema, LocalPolicySchema, PollResponseSchema, TRANSPORTS, WhoAmIResponseSchema } from '../protocol/messages';

// What the agents' routes answer, as the API document describes it (@Responds checks each
// handler's return type against these at compile time).

const AgentHealthSchema = z
  .object({
    verdict: z.enum(HEALTH_VERDICTS),
    problems: z.array(z.string()),
    checkedAt: z.string().describe('ISO 8601'),
    taskId: z.string(),
    clockOffsetMs: z.number().nullable().describe("The agent's clock minus the control plane's when the answer arrived; null without an answer"),
    facts: HealthCheckResultSchema.shape.facts.nullable().describe('What the agent found; null when the check ended without an answer'),
  })
  .meta({ id: 'AgentHealth', description: "The agent's last health check" });

export const AgentSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    hostname: z.string(),
    os: z.string(),
    arch: z.string(),
    agentVersion: z.string(),
    fingerprint: z.string(),
    verificationCode: z.string(),
    status: z.enum(AGENT_STATUSES),
    enrolledAt: z.date(),
    decidedBy: z.string().nullable().describe('Who approved, rejected or revoked it'),
    decidedById: z.string().nullable(),
    decidedAt: z.date().nullable(),
    decisionReason: z.string().nullable(),
    conflictsWith: z.string().nullable().describe('The agent this one would replace (same host, new key), if any'),
    environments: z.array(z.string()),
    roles: z.array(z.string()),
    connection: z.object({
      state: z.enum(['online', 'offline']),
      transport: z.enum(TRANSPORTS).nullable(),
      lastSeenAt: z.date().nullable(),
      lastError: z.string().nullable(),
    }),
    policy: LocalPolicySchema.nullable().describe("The host's local policy, as the agent last reported it"),
    health: AgentHealthSchema.nullable(),
  })
  .meta({ id: 'Agent' });

export const AgentListSchema = z
  .object({ items: z.array(AgentSchema), counts: z.record(z.enum(AGENT_STATUSES), z.number().int()).describe("The organisation's agents by status, whatever the filter") })
  .meta({ id: 'AgentList' });

export const EnrollmentTokenSchema = z
  .object({
    id: z.uuid(),
    prefix: z.string(),
    description: z.string().nullable(),
    state: z.enum(['active', 'revoked', 'expired', 'used_up']),
    expiresAt: z.date(),
    maxUses: z.number().int(),
    uses: z.number().int(),
    environments: z.array(z.string()),
    roles: z.array(z.string()),
    createdBy: z.string(),
    createdAt: z.date(),
    revokedAt: z.date().nullable(),
  })
  .meta({ id: 'EnrollmentToken' });

export const NewEnrollmentTokenSchema = EnrollmentTokenSchema.extend({
  token: z.string().describe('The token itself (crl_enr_…): shown this once, never again'),
  serverKey: z.object({ keyId: z.string(), fingerprint: z.string() }).describe('The key agents enrolling with it will pin: compare its fingerprint on the host'),
}).meta({ id: 'NewEnrollmentToken' });

export const AgentProtocol = {
  enroll: EnrollResponseSchema.meta({ id: 'EnrollResponse' }),
  poll: PollResponseSchema.meta({ id: 'PollResponse' }),
  whoami: WhoAmIResponseSchema.meta({ id: 'WhoAmIResponse' }),
  time: z.object({ serverTime: z.number().int().describe('ms since the epoch') }).meta({ id: 'ServerTime' }),
};
