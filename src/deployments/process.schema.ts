import { z } from 'zod';
import { ROLES } from '../orgs/roles';
import { MAX_SCRIPT_CHARS, SCRIPT_SYNTAXES } from '../protocol/messages';

const MAX_STEPS = 100;
const MAX_STEP_TIMEOUT_SECONDS = 24 * 3600;
const label = z.string().regex(/^[\w.:-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_", ":" or "-"');
const common = {
  name: z.string().trim().min(1, 'a step needs a name').max(100),
  /** Only in these environments (names or ids); every environment when left out. */
  environments: z.array(z.string().min(1)).max(100).optional(),
  condition: z.enum(['success', 'failure', 'always']).optional(),
};

/** A step as a client sends it, one schema per kind. */
export const StepInputSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({
      ...common,
      kind: z.literal('script'),
      script: z.object({ syntax: z.enum(SCRIPT_SYNTAXES), body: z.string().min(1, 'the script is empty').max(MAX_SCRIPT_CHARS) }),
      targetRoles: z.array(label).min(1, 'a script step runs on agents with one of its targetRoles: name at least one').max(50),
      startWithPrevious: z.boolean().optional(),
      required: z.boolean().optional(),
      maxParallelism: z.number().int().min(1).optional(),
      maxErrors: z.number().int().min(0).optional(),
      timeoutSeconds: z.number().int().min(1).max(MAX_STEP_TIMEOUT_SECONDS).optional(),
    }),
    z.object({
      ...common,
      kind: z.literal('manual'),
      instructions: z.string().trim().min(1, 'tell the person what to check').max(10_000),
      responsibleRole: z.enum(ROLES).optional(),
    }),
  ],
  { error: () => 'kind must be "script" or "manual"' },
);

export const ProcessInputSchema = z.object({ steps: z.array(StepInputSchema).max(MAX_STEPS) });
export type StepInput = z.infer<typeof StepInputSchema>;

interface StoredCommon {
  name: string;
  /** Empty: every environment. */
  environmentIds: string[];
  condition: 'success' | 'failure' | 'always';
}

/** A step as stored in a process version and snapshotted by releases: environments by id, every default written out. */
export type Step =
  | (StoredCommon & {
      kind: 'script';
      script: { syntax: (typeof SCRIPT_SYNTAXES)[number]; body: string };
      targetRoles: string[];
      startWithPrevious: boolean;
      required: boolean;
      maxParallelism: number | null;
      maxErrors: number | null;
      timeoutSeconds: number;
    })
  | (StoredCommon & { kind: 'manual'; instructions: string; responsibleRole: (typeof ROLES)[number] });

export const DEFAULT_STEP_TIMEOUT_SECONDS = 3600;
