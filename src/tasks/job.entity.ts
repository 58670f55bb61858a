import { Check, Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Agent } from '../agents/agent.entity';
import type { JobState } from './task-states';
import { Task } from './task.entity';

/**
 * One agent's part of a task. Only queued, offered and running rows are hot; finished ones stay
 * out of every queue index. A job is held by its agent (offered or running) exactly while it has
 * a lease, and the held set is indexed by the lease: statements that move one job by its id
 * name its state, which no queue index can serve, so the planner never trades the primary key
 * for a scan of everything held, whatever its statistics say.
 */
@Entity('jobs')
@Index(['taskId'])
// Serves history by agent (and removing an agent's jobs with it).
@Index('IDX_jobs_agent', ['agentId'])
// Serves claims: only rows an agent could be offered right now, oldest first.
@Index('IDX_jobs_claimable', ['agentId', 'createdAt'], { where: `state = 'queued' AND ready` })
// Serves an agent's busy count, its cancellations, and the sweeper's lapsed offers and leases.
@Index('IDX_jobs_held', ['agentId', 'leaseExpiresAt'], { where: `lease_expires_at IS NOT NULL` })
// Serves an organisation's count of jobs offered or running, against its running limit.
@Index('IDX_jobs_org_held', ['organizationId'], { where: `lease_expires_at IS NOT NULL` })
// Serves delivery timeouts and the backstop re-query.
@Index('IDX_jobs_waiting', ['queuedAt'], { where: `state = 'queued' AND ready` })
@Check('CHK_jobs_lease_iff_held', `(lease_expires_at IS NOT NULL) = (state IN ('offered', 'running'))`)
export class Job {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  taskId: string;

  @ManyToOne(() => Task, { onDelete: 'CASCADE' })
  task: Relation<Task>;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  agentId: string;

  @ManyToOne(() => Agent, { onDelete: 'CASCADE' })
  agent: Relation<Agent>;

  @Column({ type: 'text' })
  state: JobState;

  // The offer's name and timeout (a task's by default; a deployment's per step).
  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'int' })
  timeoutSeconds: number;

  // What the agent is asked to do: the kind, and its versioned payload (src/protocol JobPayloadSchema, without the kind).
  @Column({ type: 'text' })
  kind: string;

  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  // Masked out of this job's output, each sealed (SecretsCipher, jobSecretAad); never returned by the API, and cleared once the job ends.
  @Column({ type: 'text', array: true, default: '{}' })
  secrets: string[];

  // What the job handed back with its finish, for kinds that report something (JobResultSchema).
  @Column({ type: 'jsonb', nullable: true })
  result: Record<string, unknown> | null;

  @Column({ type: 'int', default: 1 })
  attempt: number;

  // False while the task waits behind another on its concurrency key.
  @Column({ type: 'boolean' })
  ready: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  // When the job last became claimable: the delivery timeout counts from here.
  @Column({ type: 'timestamptz', nullable: true })
  queuedAt: Date | null;

  // Not offered before this (an agent that said "busy" is not asked again at once).
  @Column({ type: 'timestamptz', default: () => 'now()' })
  availableAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  offeredAt: Date | null;

  @Column({ type: 'text', nullable: true })
  offeredByNode: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  leaseExpiresAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  @Column({ type: 'int', nullable: true })
  exitCode: number | null;

  @Column({ type: 'text', nullable: true })
  signal: string | null;

  // Why the job ended the way it did, in words (refused by policy, lease lapsed, ...).
  @Column({ type: 'text', nullable: true })
  message: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  cancelRequestedAt: Date | null;

  // Log bookkeeping for the current attempt: the next chunk expected, bytes kept, and the end
  // of the output held back per stream because it may begin a sensitive value.
  @Column({ type: 'int', default: 0 })
  nextLogSeq: number;

  @Column({ type: 'bigint', default: 0, transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  logBytes: number;

  @Column({ type: 'boolean', default: false })
  logTruncated: boolean;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  maskCarry: Record<string, string>;
}
