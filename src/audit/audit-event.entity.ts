import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type ActorType = 'user' | 'api_key' | 'agent' | 'system' | 'anonymous';

/** Append-only: a trigger in the migration refuses UPDATE and DELETE. */
@Entity('audit_events')
@Index(['organizationId', 'id'])
export class AuditEvent {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  // Null for events outside any organisation, such as a failed login for an unknown email.
  @Column({ type: 'uuid', nullable: true })
  organizationId: string | null;

  @Column({ type: 'text' })
  actorType: ActorType;

  @Column({ type: 'text', nullable: true })
  actorId: string | null;

  @Column({ type: 'text', nullable: true })
  actorLabel: string | null;

  @Column({ type: 'text' })
  action: string;

  @Column({ type: 'text', nullable: true })
  targetType: string | null;

  @Column({ type: 'text', nullable: true })
  targetId: string | null;

  @Column({ type: 'text', nullable: true })
  ip: string | null;

  @Column({ type: 'jsonb', default: {} })
  details: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- TypeORM cannot type arbitrary JSON

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
