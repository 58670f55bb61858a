import { z } from 'zod';
import { ROLES } from './roles';
import { LIMIT_NAMES, type LimitName } from './organization-limits';

// What the organisation routes answer, as the API document describes it.

export const MemberSchema = z.object({ id: z.uuid().describe('The membership'), userId: z.uuid(), email: z.string(), role: z.enum(ROLES), createdAt: z.date() }).meta({ id: 'Member' });

export const InvitationSchema = z.object({ id: z.uuid(), email: z.string(), role: z.enum(ROLES), invitedBy: z.string(), expiresAt: z.date(), createdAt: z.date() }).meta({ id: 'Invitation' });

export const NewInvitationSchema = z
  .object({ invitation: InvitationSchema.extend({ token: z.string().describe('The invitation token (crl_inv_…) to hand to the invitee: shown this once') }) })
  .meta({ id: 'NewInvitation' });

const limits = z.object(Object.fromEntries(LIMIT_NAMES.map((n) => [n, z.number().int()])) as Record<LimitName, z.ZodNumber>);

export const LimitsSchema = z
  .object({
    organizationId: z.uuid(),
    limits: limits.describe('What applies now'),
    defaults: limits.describe("The node's defaults"),
    own: limits.partial().describe("The organisation's own values, where a platform operator set one"),
  })
  .meta({ id: 'OrganizationLimits' });

export const OrganizationWithLimitsSchema = LimitsSchema.extend({ name: z.string(), slug: z.string() }).meta({ id: 'OrganizationWithLimits' });
