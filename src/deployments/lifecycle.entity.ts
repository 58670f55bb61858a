import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation, UpdateDateColumn } from 'typeorm';
import { Organization } from '../orgs/organization.entity';
import type { Phase } from './lifecycle-progress';

/** The order in which a release travels through environments. With no phases, one phase per environment, in order. */
@Entity('lifecycles')
@Index(['organizationId', 'name'], { unique: true })
@Index(['organizationId'], { unique: true, where: '"is_default"' })
export class Lifecycle {
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

  /** The organisation's own: projects without a lifecycle of their own follow it. Exactly one per organisation. */
  @Column({ type: 'boolean', default: false })
  isDefault: boolean;

  @Column({ type: 'jsonb', default: [] })
  phases: Phase[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
