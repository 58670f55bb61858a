import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Organization } from '../orgs/organization.entity';

/** Where a release is deployed (Dev, Test, Prod): agents carry environments by name, kept in the order users set. */
@Entity('environments')
@Index(['organizationId', 'name'], { unique: true })
export class Environment {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Deployments here pause on a failure for someone to decide (retry, ignore, exclude, abort) unless they say otherwise. */
  @Column({ type: 'boolean', default: false })
  guidedFailure: boolean;

  /** Its place in the organisation's order: the default lifecycle and the dashboard follow it. */
  @Column({ type: 'integer' })
  position: number;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
