import { z } from 'zod';
import { ROLES } from '../orgs/roles';

// What the authentication routes answer, as the API document describes it.

export const MeSchema = z
  .object({
    user: z.object({ id: z.uuid(), email: z.string(), platformOperator: z.boolean().optional().describe('Present, true, for a platform operator (CORRAL_PLATFORM_OPERATORS)') }),
    organization: z.object({ id: z.uuid(), name: z.string(), slug: z.string() }),
    role: z.enum(ROLES),
    authenticatedBy: z.union([z.object({ type: z.literal('api_key'), id: z.uuid(), name: z.string() }), z.object({ type: z.literal('session') })]),
  })
  .meta({ id: 'Me', description: 'Who is calling, in which organisation, with which role' });

export const ConsoleSessionSchema = z.object({ me: MeSchema.nullable().describe('null when nobody is logged in') }).meta({ id: 'ConsoleSession' });

export const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string(),
    role: z.enum(ROLES),
    createdBy: z.string(),
    createdAt: z.date(),
    lastUsedAt: z.date().nullable(),
    revokedAt: z.date().nullable(),
  })
  .meta({ id: 'ApiKey' });

export const NewApiKeySchema = ApiKeySchema.extend({ key: z.string().describe('The key itself (crl_…): shown this once, never again') }).meta({ id: 'NewApiKey' });
