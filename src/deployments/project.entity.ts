import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation, UpdateDateColumn } from 'typeorm';
import { Organization } from '../orgs/organization.entity';
import { Lifecycle } from './lifecycle.entity';

/** What gets deployed: a deployment process, its releases, and the lifecycle they follow. */
@Entity('projects')
@Index(['organizationId', 'slug'], { unique: true })
@Index(['organizationId', 'name'], { unique: true })
export class Project {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  slug: string;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Null: the organisation's default lifecycle. */
  @Column({ type: 'uuid', nullable: true })
  lifecycleId: string | null;

  @ManyToOne(() => Lifecycle, { onDelete: 'NO ACTION', nullable: true })
  lifecycle: Relation<Lifecycle> | null;

  /** The library variable sets it includes, in order: an earlier one wins a tie between sets. */
  @Column({ type: 'uuid', array: true, default: () => "'{}'" })
  variableSetIds: string[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
