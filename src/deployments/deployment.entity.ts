import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Release } from './release.entity';

export const DEPLOYMENT_STATES = ['queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled'] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

/** A release deployed to an environment: one engine task, whose steps run in order. */
@Entity('deployments')
@Index(['organizationId', 'createdAt'])
@Index(['releaseId', 'environmentId'])
@Index(['projectId', 'environmentId', 'createdAt'])
export class Deployment {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  projectId: string;

  @Column({ type: 'uuid' })
  releaseId: string;

  @ManyToOne(() => Release, { onDelete: 'CASCADE' })
  release: Relation<Release>;

  @Column({ type: 'uuid' })
  environmentId: string;

  /** The engine task that runs it. */
  @Column({ type: 'uuid', nullable: true })
  taskId: string | null;

  @Column({ type: 'text' })
  state: DeploymentState;

  @Column({ type: 'boolean', default: false })
  guidedFailure: boolean;

  @Column({ type: 'text', array: true, default: '{}' })
  skipSteps: string[];

  @Column({ type: 'uuid', array: true, default: '{}' })
  excludeAgentIds: string[];

  @Column({ type: 'uuid', nullable: true })
  createdBy: string | null;

  @Column({ type: 'text' })
  createdByLabel: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  /** Asked to stop: no step starts any more, and it ends as cancelled once its running jobs have. */
  @Column({ type: 'timestamptz', nullable: true })
  cancelRequestedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}
