import { z } from 'zod';

// What the variables routes answer, as the API document describes it (@Responds checks each
// handler's return type against these at compile time).

const NamedRef = z.object({ id: z.string(), name: z.string().nullable().describe('null when what it named is gone') });

const common = {
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  scope: z
    .object({ environments: z.array(NamedRef).optional(), roles: z.array(z.string()).optional(), agents: z.array(NamedRef).optional(), steps: z.array(z.string()).optional() })
    .describe('What the value is limited to; empty: everywhere'),
  prompt: z.object({ label: z.string(), required: z.boolean() }).nullable().describe('Asked for in each deployment request; `value` is the default'),
};

export const VariableSchema = z
  .union([
    z.object({ ...common, sensitive: z.literal(false), value: z.string().nullable() }),
    z.object({ ...common, sensitive: z.literal(true), hasValue: z.boolean().describe('A sensitive value is never shown again; only whether it has one') }),
  ])
  .meta({ id: 'Variable' });

export const VariableSetSchema = z.object({ id: z.uuid(), name: z.string(), description: z.string(), createdAt: z.date(), updatedAt: z.date() }).meta({ id: 'VariableSet' });

export const VariableSetWithVariablesSchema = VariableSetSchema.extend({ variables: z.array(VariableSchema) }).meta({ id: 'VariableSetWithVariables' });
