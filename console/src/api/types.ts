// What the control plane's API returns, as the console uses it: the types generated from its
// OpenAPI document (src/protocol/api-schema.ts), under the names the pages use, and the runtime
// lists the console needs. Type-only imports: nothing of the server reaches the browser bundle.
// Where the console needs a list at run time, it keeps a literal one that the compiler checks
// against the document's union.

import type {
  Agent,
  AgentHealth,
  ClusterNode,
  Deployment,
  HealthCheckTask,
  Member,
  NewEnrollmentToken,
  NewRelease,
  Node,
  OrganizationLimits as OrganizationLimitsView,
  OrganizationWithLimits,
  Process,
  Release as ReleaseDetail,
  ReleaseSummary,
  ScriptDto,
  Step,
  Task,
  Variable,
} from '../../../src/protocol/api-schema';
import type { PayloadKind } from '../../../src/protocol/messages';

export type {
  Agent,
  AgentHealth,
  AgentList,
  ApiKey,
  AuditEvent,
  AuditPage,
  Dashboard,
  DeploymentPreview,
  DeploymentSummary,
  EnrollmentToken,
  Environment,
  HealthCheckTask,
  Invitation,
  Job,
  Lifecycle,
  LogLine,
  Me,
  Member,
  Project,
  Task,
  TaskPage,
  Variable,
  VariableSet,
  VariablesPreview,
} from '../../../src/protocol/api-schema';
export type { OrganizationLimitsView, ReleaseDetail };

/** A union's members as a runtime list, in this order: one left out, or one the union lacks, is a type error. */
function listOf<T extends string>() {
  return <const L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : { missing: Exclude<T, L[number]> })): L => list;
}

export type Role = Member['role'];
export type AgentStatus = Agent['status'];
export type TaskState = Task['state'];
export type JobState = Task['jobs'][number]['state'];
export type ScriptSyntax = ScriptDto['syntax'];
export type HealthVerdict = AgentHealth['verdict'];
/** The host's local policy, as the agent last reported it. */
export type LocalPolicy = NonNullable<Agent['policy']>;

/** Lowest to highest, as on the server. */
export const ROLES = listOf<Role>()(['viewer', 'operator', 'admin', 'owner']);

export function roleAtLeast(role: Role, least: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(least);
}

export const AGENT_STATUSES = listOf<AgentStatus>()(['pending', 'approved', 'rejected', 'revoked']);

/** What the agent found about itself and its host in its last health check. */
export type HealthFacts = NonNullable<AgentHealth['facts']>;
export type Interpreter = keyof HealthFacts['interpreters'];
export const INTERPRETERS = listOf<Interpreter>()(['bash', 'sh', 'node', 'pwsh']);

export const TASK_STATES = listOf<TaskState>()(['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled', 'timed_out']);
export const FINISHED_TASK_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export const SCRIPT_SYNTAXES = listOf<ScriptSyntax>()(['bash', 'sh', 'node', 'pwsh']);

/**
 * What a task does: the kinds of job the control plane can queue. The document says only
 * `string` (a newer control plane may add kinds), so this is the server's own union.
 */
export type TaskKind = PayloadKind;

/** An agent a task was not started on, and why (422 TARGETS_REFUSED details, a health check's skipped). */
export type TargetRefusal = HealthCheckTask['skipped'][number];

/** A control-plane node; as a platform operator sees it, with every organisation's work on it. */
export type ServerNode = Node;
export type PlatformNode = ClusterNode;

/** What creating a token answers, once: the token itself and the server key an install pins. */
export type CreatedEnrollmentToken = NewEnrollmentToken;

/** The document's ReleaseSummary: a release as lists show it (its `Release` is the detail). */
export type Release = ReleaseSummary;
/** What creating a release answers: the release, and each variable its scripts use that no value defines. */
export type CreatedRelease = NewRelease;

export type DeploymentDetail = Deployment;
export type DeploymentTarget = Deployment['steps'][number]['targets'][number];
export type Interruption = Deployment['interruptions'][number];

export interface Named {
  id: string;
  name: string;
}

export type StepCondition = Step['condition'];
/** A step of a deployment process as the API shows it. */
export type ProcessStep = Step;
export type DeploymentProcess = Process;

/** Where a value applies: environments and agents as the API names them (a name is null once its environment or agent is gone). */
export type VariableScope = Variable['scope'];
export type ScopeDimension = keyof VariableScope;

/** One set of an organisation's limits. */
export type OrganizationLimits = OrganizationLimitsView['limits'];
/** GET /api/v1/platform/organizations: every organisation with its limits (platform operators). */
export type PlatformOrganization = OrganizationWithLimits;
