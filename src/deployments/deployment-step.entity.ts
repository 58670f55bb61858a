import { Column, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import type { StepState, TargetState } from './deployment-plan';
import { Deployment } from './deployment.entity';

/** One step of a deployment as it runs: where it stands, and why when it did not run. */
@Entity('deployment_steps')
@Index(['deploymentId', 'position'], { unique: true })
export class DeploymentStep {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  deploymentId: string;

  @ManyToOne(() => Deployment, { onDelete: 'CASCADE' })
  deployment: Relation<Deployment>;

  /** Its index in the release's steps. */
  @Column({ type: 'integer' })
  position: number;

  @Column({ type: 'integer' })
  block: number;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  state: StepState;

  @Column({ type: 'text', nullable: true })
  reason: string | null;

  @Column({ type: 'boolean', default: false })
  ignored: boolean;
}

/** One agent a script step runs on, and the engine job that runs it there (the latest, after a retry). */
@Entity('deployment_targets')
@Index(['stepId'])
@Index(['jobId'])
export class DeploymentTarget {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  deploymentId: string;

  @Column({ type: 'uuid' })
  stepId: string;

  @ManyToOne(() => DeploymentStep, { onDelete: 'CASCADE' })
  step: Relation<DeploymentStep>;

  @Column({ type: 'uuid' })
  agentId: string;

  @Column({ type: 'text' })
  agentName: string;

  @Column({ type: 'text' })
  state: TargetState;

  @Column({ type: 'text', nullable: true })
  reason: string | null;

  @Column({ type: 'uuid', nullable: true })
  jobId: string | null;
}
