import { z } from 'zod';
import { ROLES } from '../orgs/roles';
import { SCRIPT_SYNTAXES } from '../protocol/messages';
import { VariableSchema } from '../variables/variables.responses';
import { DEPLOYMENT_STATES } from './deployment.entity';
import { DeploymentsErrorCode } from './deployments.exception';

// What the projects, lifecycles, releases and deployments routes answer, as the API document
// describes it (@Responds checks each handler's return type against these at compile time).

const Named = z.object({ id: z.uuid(), name: z.string() });
const CONDITIONS = ['success', 'failure', 'always'] as const;
const STEP_STATES = ['pending', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled'] as const;
const TARGET_STATES = ['pending', 'active', 'succeeded', 'failed', 'not_started', 'excluded', 'cancelled'] as const;
const ACTIONS = ['proceed', 'abort', 'retry', 'ignore', 'exclude'] as const;

export const ProjectSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    description: z.string(),
    lifecycleId: z.string().describe('A lifecycle id, or "default"'),
    variableSetIds: z.array(z.uuid()).describe('The library variable sets it includes, in order'),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .meta({ id: 'Project' });

const stepCommon = { name: z.string(), environments: z.array(Named).describe('Only in these; every environment when empty'), condition: z.enum(CONDITIONS) };

export const StepSchema = z
  .discriminatedUnion('kind', [
    z.object({
      ...stepCommon,
      kind: z.literal('script'),
      script: z.object({ syntax: z.enum(SCRIPT_SYNTAXES), body: z.string() }),
      targetRoles: z.array(z.string()),
      startWithPrevious: z.boolean(),
      required: z.boolean(),
      maxParallelism: z.number().int().nullable(),
      maxErrors: z.number().int().nullable(),
      timeoutSeconds: z.number().int(),
    }),
    z.object({ ...stepCommon, kind: z.literal('manual'), instructions: z.string(), responsibleRole: z.enum(ROLES) }),
  ])
  .meta({ id: 'Step' });

export const ProcessSchema = z
  .object({
    projectId: z.uuid(),
    version: z.number().int().describe('0, with no steps, before the first is saved'),
    steps: z.array(StepSchema),
    createdBy: z.string().nullable(),
    createdAt: z.date().nullable(),
  })
  .meta({ id: 'Process' });

export const VariablesPreviewSchema = z
  .object({
    environment: Named.nullable(),
    agent: Named.extend({ roles: z.array(z.string()) }).nullable(),
    step: z.string().nullable(),
    variables: z.array(z.object({ name: z.string(), value: z.string().describe('*** for a sensitive one'), sensitive: z.boolean(), from: z.string().describe('Which value won, and why') })),
  })
  .meta({ id: 'VariablesPreview' });

export const LifecycleSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    isDefault: z.boolean(),
    followsEnvironmentOrder: z.boolean().describe('It has no phases of its own: one per environment, in order'),
    phases: z.array(z.object({ name: z.string(), environments: z.array(Named), minSuccessful: z.number().int().nullable(), optional: z.boolean(), autoDeploy: z.array(Named) })),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .meta({ id: 'Lifecycle' });

export const ReleaseSummarySchema = z
  .object({
    id: z.uuid(),
    projectId: z.uuid(),
    version: z.string(),
    notes: z.string(),
    processVersion: z.number().int(),
    createdBy: z.string(),
    createdAt: z.date(),
  })
  .meta({ id: 'ReleaseSummary' });

const warnings = z.array(z.string()).describe('Variables its scripts use that no value defines');

export const NewReleaseSchema = ReleaseSummarySchema.extend({ warnings }).meta({ id: 'NewRelease' });

export const ReleaseVariablesSchema = ReleaseSummarySchema.extend({ variables: z.array(VariableSchema), warnings }).meta({ id: 'ReleaseVariables' });

export const ReleaseSchema = ReleaseSummarySchema.extend({
  steps: z.array(StepSchema).describe('The process snapshot taken when it was made'),
  variables: z.array(VariableSchema).describe('The variables snapshot'),
  lifecycle: Named,
  deployments: z.array(
    z.object({ id: z.uuid(), environment: z.object({ id: z.uuid(), name: z.string().nullable() }), state: z.enum(DEPLOYMENT_STATES), createdAt: z.date(), finishedAt: z.date().nullable() }),
  ),
  progress: z.object({
    phases: z.array(
      z.object({
        name: z.string(),
        environments: z.array(Named.extend({ deployed: z.boolean() })),
        needed: z.number().int(),
        optional: z.boolean(),
        open: z.boolean(),
        complete: z.boolean(),
      }),
    ),
    allowed: z.array(Named).describe('Where its lifecycle lets it go now'),
    next: z.array(Named),
  }),
}).meta({ id: 'Release' });

export const DeploymentSummarySchema = z
  .object({
    id: z.uuid(),
    taskId: z.uuid().nullable(),
    project: Named,
    release: z.object({ id: z.uuid(), version: z.string() }),
    environment: Named,
    state: z.enum(DEPLOYMENT_STATES),
    waitingFor: z.uuid().nullable().describe('The deployment it queues behind'),
    createdBy: z.string(),
    createdAt: z.date(),
    finishedAt: z.date().nullable(),
  })
  .meta({ id: 'DeploymentSummary' });

export const DeploymentSchema = DeploymentSummarySchema.extend({
  guidedFailure: z.boolean(),
  skipSteps: z.array(z.string()),
  steps: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      kind: z.enum(['script', 'manual']),
      block: z.number().int().describe('Steps of one block run side by side; blocks run in order'),
      state: z.enum(STEP_STATES),
      reason: z.string().nullable(),
      ignored: z.boolean(),
      targets: z.array(
        z.object({
          agent: Named,
          state: z.enum(TARGET_STATES),
          reason: z.string().nullable(),
          jobId: z.uuid().nullable(),
          exitCode: z.number().int().nullable(),
          startedAt: z.date().nullable(),
          finishedAt: z.date().nullable(),
          outputs: z.array(z.object({ name: z.string(), value: z.string().describe('*** for a sensitive one'), sensitive: z.boolean() })),
        }),
      ),
    }),
  ),
  interruptions: z.array(
    z.object({
      id: z.uuid(),
      stepId: z.uuid(),
      kind: z.enum(['manual', 'guided-failure']),
      instructions: z.string(),
      responsibleRole: z.enum(ROLES),
      actions: z.array(z.enum(ACTIONS)).describe('The answers it takes'),
      answer: z.object({ action: z.enum(ACTIONS), note: z.string(), by: z.string().nullable(), at: z.date().nullable() }).nullable(),
      createdAt: z.date(),
    }),
  ),
}).meta({ id: 'Deployment' });

export const DeploymentPreviewSchema = z
  .object({
    environment: Named.extend({ guidedFailure: z.boolean() }),
    refusals: z
      .array(
        z.object({
          code: z.enum([DeploymentsErrorCode.LIFECYCLE_FORBIDS, 'REQUIRED_STEP_HAS_NO_TARGETS', 'TARGET_POLICY_REFUSED', 'UNRESOLVED_VARIABLE', 'PROMPTED_VARIABLE_MISSING']),
          message: z.string(),
        }),
      )
      .describe('Why a deployment would be refused; empty when it may go'),
    steps: z.array(
      z.object({
        name: z.string(),
        kind: z.enum(['script', 'manual']),
        state: z.enum(['pending', 'skipped']),
        reason: z.string().nullable(),
        targets: z.array(z.object({ agent: Named, state: z.enum(['pending', 'excluded']), reason: z.string().nullable() })),
      }),
    ),
  })
  .meta({ id: 'DeploymentPreview' });

export const DashboardSchema = z
  .object({
    environments: z.array(Named),
    projects: z.array(z.object({ id: z.uuid(), name: z.string(), deployments: z.record(z.string(), DeploymentSummarySchema).describe('The latest deployment, by environment id') })),
  })
  .meta({ id: 'Dashboard' });

/** GET /api/v1/deployments/:id/log answers by its Accept header. */
export const DeploymentLogResponses = {
  'text/plain': z.string().describe('Each step under "== step ==", each line starting with [agent name]'),
  'application/json': z
    .object({
      deploymentId: z.uuid(),
      state: z.enum(DEPLOYMENT_STATES),
      steps: z.array(z.object({ step: z.string(), agents: z.array(z.object({ agent: z.string(), lines: z.array(z.looseObject({ text: z.string() }).describe('A LogLine')) })) })),
    })
    .meta({ id: 'DeploymentLog' }),
  'text/event-stream': z.string().describe("The task's server-sent events, as GET /api/v1/tasks/{id}/log sends them"),
};
