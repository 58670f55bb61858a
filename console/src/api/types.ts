// What the control plane's API returns, as the console uses it (see README.md for the routes).

export type Role = 'viewer' | 'operator' | 'admin' | 'owner';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin', 'owner'];

export function roleAtLeast(role: Role, least: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(least);
}

export interface Me {
  user: { id: string; email: string };
  organization: { id: string; name: string; slug: string };
  role: Role;
}

export type AgentStatus = 'pending' | 'approved' | 'rejected' | 'revoked';
export const AGENT_STATUSES: readonly AgentStatus[] = ['pending', 'approved', 'rejected', 'revoked'];

export interface LocalPolicy {
  source: string;
  allowedJobKinds: string[];
  allowScripts: boolean;
  runAs: string | null;
  allowedOrganizations: string[] | null;
  frozen: boolean;
}

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
  connection: { state: 'online' | 'offline'; transport: string | null; lastSeenAt: string | null; lastError: string | null };
  policy: LocalPolicy | null;
}

export interface AgentList {
  items: Agent[];
  counts: Record<AgentStatus, number>;
}

export const TASK_STATES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled', 'timed_out'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type JobState = 'queued' | 'offered' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'unknown';
export const FINISHED_TASK_STATES: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'timed_out'];

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
  kind: string;
  state: TaskState;
  script: { syntax: string; body: string };
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

export interface Page<T> {
  items: T[];
  nextBefore: string | null;
}

export interface LogLine {
  jobId: string;
  agentName: string;
  attempt: number;
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
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
