import { z } from 'zod';

// What the audit route answers, as the API document describes it.

export const AuditEventSchema = z
  .object({
    id: z.string().describe('A whole number, as text; pass as `before` to page'),
    organizationId: z.uuid().nullable(),
    actorType: z.enum(['user', 'api_key', 'agent', 'system', 'anonymous']),
    actorId: z.string().nullable(),
    actorLabel: z.string().nullable(),
    action: z.string().describe('e.g. "auth.login", "agent.approved"'),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    ip: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    createdAt: z.date(),
  })
  .meta({ id: 'AuditEvent' });

export const AuditPageSchema = z
  .object({ items: z.array(AuditEventSchema), nextBefore: z.string().nullable().describe('Pass as `before` for the next page; null on the last one') })
  .meta({ id: 'AuditPage' });
