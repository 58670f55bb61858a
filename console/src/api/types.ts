// What the control plane's API returns, as the console uses it (see README.md for the routes).
//
// Roles, states and protocol shapes come from the server's own modules, as types only: nothing of
// the server reaches the browser bundle (type-only imports are erased). Where the console needs a
// list at run time, it keeps a literal one that the compiler checks against the server's union.

import type { AgentStatus, HealthCheckResult, HealthVerdict, JobPayload, LocalPolicy, LogStream, PayloadKind, ScriptSyntax, Transport } from '../../../src/protocol/messages';
import type { Role } from '../../../src/orgs/roles';
import type { JobState, TaskState } from '../../../src/tasks/task-states';

export type { AgentStatus, HealthVerdict, JobState, LocalPolicy, Role, ScriptSyntax, TaskState };

/** A union's members as a runtime list, in this order: one left out, or one the union lacks, is a type error. */
function listOf<T extends string>() {
  return <const L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : { missing: Exclude<T, L[number]> })): L => list;
}

/** Lowest to highest, as on the server. */
export const ROLES = listOf<Role>()(['viewer', 'operator', 'admin', 'owner']);

export function roleAtLeast(role: Role, least: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(least);
}

export interface Me {
  /** `platformOperator`: the account runs this control plane (it may drain nodes). */
  user: { id: string; email: string; platformOperator?: boolean };
  organization: { id: string; name: string; slug: string };
  role: Role;
}

export const AGENT_STATUSES = listOf<AgentStatus>()(['pending', 'approved', 'rejected', 'revoked']);

/** What the agent found about itself and its host in its last health check. */
export type HealthFacts = HealthCheckResult['facts'];
export type Interpreter = keyof HealthFacts['interpreters'];
export const INTERPRETERS = listOf<Interpreter>()(['bash', 'sh', 'node', 'pwsh']);

/** An agent's last health check, as the server shows it. */
import type { AgentHealth } from '../../../src/agents/agent-health.view';
export type { AgentHealth };

export interface Agent {
  id: string;
  name: string;
  hostname: string;
  os: string;
  arch: string;
  agentVersion: string;
  fingerprint: string;
  verificationCode: string;
  status: AgentStatus;
  enrolledAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionReason: string | null;
  conflictsWith: string | null;
  environments: string[];
  roles: string[];
  connection: { state: 'online' | 'offline'; transport: Transport | null; lastSeenAt: string | null; lastError: string | null };
  policy: LocalPolicy | null;
  /** null until the agent's first health check is recorded. */
  health: AgentHealth | null;
}

export interface Environment {
  id: string;
  name: string;
  description: string;
  guidedFailure: boolean;
  position: number;
  createdAt: string;
}

export interface AgentList {
  items: Agent[];
  counts: Record<AgentStatus, number>;
}

export const TASK_STATES = listOf<TaskState>()(['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled', 'timed_out']);
export const FINISHED_TASK_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

export const SCRIPT_SYNTAXES = listOf<ScriptSyntax>()(['bash', 'sh', 'node', 'pwsh']);

/** What a task does: the kinds of job the control plane can queue. */
export type TaskKind = PayloadKind;
export type TaskScript = Extract<JobPayload, { kind: 'script' }>['script'];

export interface Job {
  id: string;
  agentId: string;
  agentName: string;
  state: JobState;
  attempt: number;
  exitCode: number | null;
  signal: string | null;
  message: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  cancelRequestedAt: string | null;
  logTruncated: boolean;
}

export interface Task {
  id: string;
  name: string;
  kind: TaskKind;
  state: TaskState;
  /** null for tasks that are not scripts (a health check runs no user code). */
  script: TaskScript | null;
  timeoutSeconds: number;
  concurrencyKey: string | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  cancelRequestedAt: string | null;
  cancelRequestedBy: string | null;
  waitingFor: { taskId: string; taskName: string; taskState: TaskState; reason: string } | null;
  jobs: Job[];
}

/** An agent a task was not started on, and why (422 TARGETS_REFUSED details, a health check's skipped). */
export interface TargetRefusal {
  agentId: string;
  name: string;
  reason: string;
}

/** What POST /api/v1/agents/health-checks answers: the task, and the agents whose local policy forbids health checks. */
export interface HealthCheckTask extends Task {
  skipped: TargetRefusal[];
}

export interface Page<T> {
  items: T[];
  nextBefore: string | null;
}

export interface LogLine {
  jobId: string;
  /** The job's name: in a deployment, its step. */
  jobName?: string;
  agentName: string;
  attempt: number;
  seq: number;
  stream: LogStream;
  text: string;
  at: string;
}

export interface ServerNode {
  id: string;
  address: string;
  pid: number;
  startedAt: string;
  lastSeenAt: string;
  state: 'alive' | 'dead' | 'stopped';
  draining: boolean;
  connectedAgents: number;
  runningJobs: number;
  self: boolean;
}

/** GET /api/v1/platform/nodes: a node with every organisation's work on it (platform operators). */
export interface PlatformNode extends ServerNode {
  organizations: { organizationId: string; name: string; connectedAgents: number; runningJobs: number }[];
}

export interface AuditEvent {
  id: string;
  actorType: string;
  actorLabel: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

export interface EnrollmentToken {
  id: string;
  prefix: string;
  description: string | null;
  state: 'active' | 'expired' | 'used_up' | 'revoked';
  expiresAt: string;
  maxUses: number;
  uses: number;
  environments: string[];
  roles: string[];
  createdAt: string;
  revokedAt: string | null;
}

/** What creating a token answers, once: the token itself and the server key an install pins. */
export interface CreatedEnrollmentToken extends EnrollmentToken {
  token: string;
  serverKey: { keyId: string; fingerprint: string };
}

export interface Member {
  id: string;
  userId: string;
  email: string;
  role: Role;
  createdAt: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: Role;
  expiresAt: string;
  createdAt: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface Project {
  id: string;
  name: string;
  slug: string;
  description: string;
  lifecycleId: string | null;
  /** The library variable sets it includes, in order: an earlier one wins a tie between sets. */
  variableSetIds: string[];
}

export interface Release {
  id: string;
  projectId: string;
  version: string;
  notes: string;
  processVersion: number;
  createdBy: string;
  createdAt: string;
}

/** What POST /api/v1/projects/:id/releases answers: the release, and each step that uses a name no variable defines. */
export interface CreatedRelease extends Release {
  warnings: string[];
}

export interface ReleaseDetail extends Release {
  /** The release's snapshot of the variables, as they were when it was made. */
  variables: Variable[];
  deployments: { id: string; environment: { id: string; name: string | null }; state: string; createdAt: string }[];
  progress: { allowed: { id: string; name: string }[]; next: { id: string; name: string }[] };
}

export interface DeploymentSummary {
  id: string;
  taskId: string;
  project: { id: string; name: string };
  release: { id: string; version: string };
  environment: { id: string; name: string };
  state: string;
  waitingFor: string | null;
  createdBy: string;
  createdAt: string;
  finishedAt: string | null;
}

export interface DeploymentTarget {
  agent: { id: string; name: string };
  state: string;
  reason: string | null;
  jobId: string | null;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** What its job set with `corral set-output`; a sensitive one's value is `***`. */
  outputs: { name: string; value: string; sensitive: boolean }[];
}

export interface Interruption {
  id: string;
  stepId: string;
  kind: 'manual' | 'guided-failure';
  instructions: string;
  responsibleRole: Role;
  actions: string[];
  answer: { action: string; note: string; by: string; at: string } | null;
}

export interface DeploymentDetail extends DeploymentSummary {
  guidedFailure: boolean;
  steps: { id: string; name: string; kind: 'script' | 'manual'; state: string; reason: string | null; ignored: boolean; targets: DeploymentTarget[] }[];
  interruptions: Interruption[];
}

export interface Dashboard {
  environments: { id: string; name: string }[];
  projects: { id: string; name: string; deployments: Record<string, DeploymentSummary> }[];
}

export interface Named {
  id: string;
  name: string;
}

export interface Lifecycle {
  id: string;
  name: string;
  description: string;
  isDefault: boolean;
  /** With no phases of its own: one per environment, in the organisation's order. */
  followsEnvironmentOrder: boolean;
  phases: { name: string; environments: Named[]; minSuccessful: number | null; optional: boolean; autoDeploy: Named[] }[];
}

export type StepCondition = 'success' | 'failure' | 'always';

interface StepCommon {
  name: string;
  environments: Named[];
  condition: StepCondition;
}

/** A step of a deployment process as the API shows it. */
export type ProcessStep =
  | (StepCommon & {
      kind: 'script';
      script: { syntax: ScriptSyntax; body: string };
      targetRoles: string[];
      startWithPrevious: boolean;
      required: boolean;
      maxParallelism: number | null;
      maxErrors: number | null;
      timeoutSeconds: number;
    })
  | (StepCommon & { kind: 'manual'; instructions: string; responsibleRole: Role });

export interface DeploymentProcess {
  projectId: string;
  version: number;
  steps: ProcessStep[];
  createdBy: string | null;
  createdAt: string | null;
}

export interface DeploymentPreview {
  environment: { id: string; name: string; guidedFailure: boolean };
  refusals: { code: string; message: string }[];
  steps: { name: string; kind: 'script' | 'manual'; state: string; reason: string | null; targets: { agent: Named; state: string; reason: string | null }[] }[];
}

/** Where a value applies: environments and agents as the API names them (a name is null once its environment or agent is gone). */
export interface VariableScope {
  environments?: { id: string; name: string | null }[];
  roles?: string[];
  agents?: { id: string; name: string | null }[];
  steps?: string[];
}

export type ScopeDimension = keyof VariableScope;

/** A value of a project, library set or release as the API shows it: a sensitive one never has its value. */
export type Variable = {
  id: string;
  name: string;
  description: string;
  scope: VariableScope;
  /** Asked for in each deployment request; the value, if any, is the default. */
  prompt: { label: string; required: boolean } | null;
} & ({ sensitive: false; value: string | null } | { sensitive: true; hasValue: boolean });

export interface VariableSet {
  id: string;
  name: string;
  description: string;
  createdAt: string;
  updatedAt: string;
}

/** What a step would see in an environment, on an agent: each value and where it came from (sensitive ones as `***`). */
export interface VariablesPreview {
  environment: Named | null;
  agent: (Named & { roles: string[] }) | null;
  step: string | null;
  variables: { name: string; value: string; sensitive: boolean; from: string }[];
}

export interface OrganizationLimits {
  queuedTasks: number;
  apiRequestsPerSecond: number;
  logBytesPerJob: number;
  runningJobs: number;
  liveConnections: number;
}

/** GET /api/v1/platform/organizations: every organisation with its limits (platform operators). */
export interface PlatformOrganization extends OrganizationLimitsView {
  name: string;
  slug: string;
}

/** GET /api/v1/organization/limits */
export interface OrganizationLimitsView {
  organizationId: string;
  limits: OrganizationLimits;
  defaults: OrganizationLimits;
  own: Partial<OrganizationLimits>;
}
