import { z } from 'zod';

export const MAX_VARIABLES = 1000;
export const MAX_VALUE_CHARS = 64 * 1024;

/** Names of the values Corral gives every step; users cannot define their own. */
export const SYSTEM_PREFIX = 'Corral.';

// By name or id, or as the API shows them ({id, name}), so a list read can be saved back as it is.
const ref = (what: string) => z.union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)]).pipe(z.string().trim().min(1, `an empty ${what} in a scope`).max(200));
const refs = (what: string) => z.array(ref(what)).max(100).optional();

export const VariableInputSchema = z.object({
  /** The id of a value saved before: a sensitive one sent without `value` keeps what it had. */
  id: z.string().uuid().optional(),
  name: z
    .string()
    .trim()
    .min(1, 'a variable needs a name')
    .max(200)
    .regex(/^[^#{}$]+$/, 'a variable name cannot contain "#", "{", "}" or "$"')
    .refine((n) => !n.toLowerCase().startsWith(SYSTEM_PREFIX.toLowerCase()), `names starting with "${SYSTEM_PREFIX}" belong to Corral's system variables; pick another`),
  /** Left out (or null, as a prompted value without a default reads): kept for a saved value, none for a new one. */
  value: z
    .string()
    .max(MAX_VALUE_CHARS)
    .nullish()
    .transform((v) => v ?? undefined),
  sensitive: z.boolean().optional(),
  description: z.string().max(2000).optional(),
  /** Environments and agents by name or id, roles and steps by name. */
  scope: z
    .object({ environments: refs('environment'), roles: refs('role'), agents: refs('agent'), steps: refs('step') })
    .strict()
    .optional(),
  /** Asked for in each deployment request; `value` is then the default. */
  prompt: z
    .object({ label: z.string().trim().min(1).max(200).optional(), required: z.boolean().optional() })
    .strict()
    .nullish(),
});
export type VariableInput = z.infer<typeof VariableInputSchema>;

export const VariablesInputSchema = z.array(VariableInputSchema).max(MAX_VARIABLES, `at most ${MAX_VARIABLES} values per list`);

export const VariableSetInputSchema = z.object({ name: z.string().trim().min(1, 'a variable set needs a name').max(100), description: z.string().max(2000).optional() }).strict();
export const VariableSetUpdateSchema = VariableSetInputSchema.partial();
