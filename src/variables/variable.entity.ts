import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Organization } from '../orgs/organization.entity';
import type { ValueSource, VariableScope } from './scope';

/**
 * Who holds a list of variables: a project, a library set, a release (its snapshot of both) or a
 * deployment (the values prompted for when it was asked for).
 */
export const VARIABLE_OWNERS = ['project', 'set', 'release', 'deployment'] as const;
export type VariableOwner = (typeof VARIABLE_OWNERS)[number];

/** Asked for when a deployment is created; the value (if any) is the default. */
export interface VariablePrompt {
  label: string;
  required: boolean;
}

/**
 * One value of a variable, with the scope where it applies. A sensitive value is only ever
 * stored sealed (`sealedValue`, with the row's id as associated data) and `value` is null.
 */
@Entity('variables')
@Index(['organizationId', 'ownerKind', 'ownerId', 'position'])
export class Variable {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text' })
  ownerKind: VariableOwner;

  @Column({ type: 'uuid' })
  ownerId: string;

  /** Its place in the owner's list, as the user ordered it. */
  @Column({ type: 'integer' })
  position: number;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', nullable: true })
  value: string | null;

  @Column({ type: 'text', nullable: true })
  sealedValue: string | null;

  @Column({ type: 'boolean', default: false })
  sensitive: boolean;

  @Column({ type: 'text', default: '' })
  description: string;

  /** Environment and agent ids, role and step names; an empty scope applies everywhere. */
  @Column({ type: 'jsonb', default: {} })
  scope: VariableScope;

  @Column({ type: 'jsonb', nullable: true })
  prompt: VariablePrompt | null;

  /** Only in a release's snapshot: the project or the library set the value was copied from. */
  @Column({ type: 'jsonb', nullable: true })
  source: ValueSource | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
