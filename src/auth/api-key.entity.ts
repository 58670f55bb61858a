import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Organization } from '../orgs/organization.entity';
import type { Role } from '../orgs/roles';
import { User } from '../orgs/user.entity';

@Entity('api_keys')
@Index(['organizationId', 'createdAt'])
export class ApiKey {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text' })
  name: string;

  // The first characters of the key, shown in lists so a user can tell keys apart.
  @Column({ type: 'text' })
  prefix: string;

  @Column({ type: 'text', unique: true })
  keyHash: string;

  @Column({ type: 'text' })
  role: Role;

  @Column({ type: 'uuid' })
  createdBy: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'created_by' })
  creator: Relation<User>;

  @Column({ type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
