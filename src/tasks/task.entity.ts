import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Organization } from '../orgs/organization.entity';
import type { TaskState } from './task-states';

@Entity('tasks')
@Index(['organizationId', 'createdAt'])
// Finding the task that holds a concurrency key looks only at unfinished tasks.
@Index('IDX_tasks_active_concurrency_key', ['organizationId', 'concurrencyKey', 'createdAt'], { where: `concurrency_key IS NOT NULL AND state IN ('queued', 'running', 'cancelling')` })
@Index('IDX_tasks_blocked_by', ['blockedBy'], { where: 'blocked_by IS NOT NULL' })
@Index('IDX_tasks_queued', ['organizationId'], { where: `state = 'queued'` })
export class Task {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text' })
  name: string;

  // What kind of work this is (script, health-check, ...): which module's hooks its events reach.
  @Column({ type: 'text' })
  kind: string;

  @Column({ type: 'text' })
  state: TaskState;

  // What was asked, as the API shows it (a script task's script); what each agent runs is its job's payload.
  @Column({ type: 'jsonb', default: () => "'{}'" })
  spec: Record<string, unknown>;

  // The task this one is part of, when a module splits its work into several tasks.
  @Column({ type: 'uuid', nullable: true })
  parentTaskId: string | null;

  @Column({ type: 'int' })
  timeoutSeconds: number;

  @Column({ type: 'text', nullable: true })
  concurrencyKey: string | null;

  // The task ahead of this one on its concurrency key; its jobs are not claimable until it ends.
  @Column({ type: 'uuid', nullable: true })
  blockedBy: string | null;

  @Column({ type: 'boolean', default: false })
  idempotent: boolean;

  /**
   * Its kind's module holds it open (an orchestrator: a deployment's steps): while held, the task
   * does not finish when its jobs do, and may have none yet; the module adds jobs as it decides,
   * then concludes it with its outcome.
   */
  @Column({ type: 'boolean', default: false })
  held: boolean;

  /** The outcome its module concluded it with; without one, its jobs' outcomes decide. */
  @Column({ type: 'text', nullable: true })
  outcome: 'succeeded' | 'failed' | 'cancelled' | null;

  @Column({ type: 'int', default: 1 })
  maxAttempts: number;

  @Column({ type: 'uuid', nullable: true })
  createdBy: string | null;

  @Column({ type: 'text' })
  createdByLabel: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  cancelRequestedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  cancelRequestedBy: string | null;
}
