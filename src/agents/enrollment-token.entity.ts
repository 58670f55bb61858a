import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Organization } from '../orgs/organization.entity';

/** Lets an agent *ask* to join an organisation; it grants nothing by itself. */
@Entity('enrollment_tokens')
@Index(['organizationId', 'createdAt'])
export class EnrollmentToken {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text', unique: true })
  tokenHash: string;

  @Column({ type: 'text' })
  prefix: string;

  @Column({ type: 'text', nullable: true })
  description: string | null;

  @Column({ type: 'timestamptz' })
  expiresAt: Date;

  @Column({ type: 'integer' })
  maxUses: number;

  @Column({ type: 'integer', default: 0 })
  uses: number;

  // Defaults proposed to the admin when an agent enrolled with this token is approved.
  @Column({ type: 'text', array: true, default: '{}' })
  environments: string[];

  @Column({ type: 'text', array: true, default: '{}' })
  roles: string[];

  @Column({ type: 'uuid' })
  createdBy: string;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
