import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import type { Role } from '../orgs/roles';
import type { InterruptionAction } from './deployment-plan';
import { Deployment } from './deployment.entity';

/** A deployment waiting for a person: a manual step, or a failure under guided failure. */
@Entity('interruptions')
@Index(['organizationId', 'deploymentId'])
export class Interruption {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @Column({ type: 'uuid' })
  deploymentId: string;

  @ManyToOne(() => Deployment, { onDelete: 'CASCADE' })
  deployment: Relation<Deployment>;

  @Column({ type: 'uuid' })
  stepId: string;

  @Column({ type: 'text' })
  kind: 'manual' | 'guided-failure';

  @Column({ type: 'text' })
  instructions: string;

  /** The least role that may answer. */
  @Column({ type: 'text' })
  responsibleRole: Role;

  @Column({ type: 'text', nullable: true })
  action: InterruptionAction | null;

  @Column({ type: 'text', default: '' })
  note: string;

  @Column({ type: 'uuid', nullable: true })
  answeredBy: string | null;

  @Column({ type: 'text', nullable: true })
  answeredByLabel: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  answeredAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
