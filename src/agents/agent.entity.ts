import type { AgentHealth } from './agent-health.view';
import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Organization } from '../orgs/organization.entity';
import type { AgentStatus, LocalPolicy, Transport } from '../protocol/messages';

@Entity('agents')
@Index(['organizationId', 'status'])
@Index(['organizationId', 'name'])
@Index(['connectedNodeId'], { where: 'connected_node_id IS NOT NULL' })
export class Agent {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  organizationId: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  organization: Relation<Organization>;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  hostname: string;

  @Column({ type: 'text' })
  os: string;

  @Column({ type: 'text' })
  arch: string;

  @Column({ type: 'text' })
  agentVersion: string;

  // Base64 of the raw Ed25519 key: the agent's whole identity. No secret of the agent is stored.
  @Column({ type: 'text', unique: true })
  publicKey: string;

  @Column({ type: 'text' })
  fingerprint: string;

  @Column({ type: 'text' })
  verificationCode: string;

  @Column({ type: 'text' })
  status: AgentStatus;

  @Column({ type: 'uuid', nullable: true })
  enrollmentTokenId: string | null;

  // A pending identity claiming the name of an approved agent with a different key.
  @Column({ type: 'uuid', nullable: true })
  conflictsWith: string | null;

  @Column({ type: 'uuid', nullable: true })
  decidedBy: string | null;

  @Column({ type: 'text', nullable: true })
  decidedByLabel: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  decidedAt: Date | null;

  @Column({ type: 'text', nullable: true })
  decisionReason: string | null;

  @Column({ type: 'text', array: true, default: '{}' })
  environments: string[];

  @Column({ type: 'text', array: true, default: '{}' })
  roles: string[];

  @Column({ type: 'jsonb', nullable: true })
  policy: LocalPolicy | null;

  // Presence: which node holds the connection and when the agent was last heard from.
  @Column({ type: 'text', nullable: true })
  connectedNodeId: string | null;

  @Column({ type: 'text', nullable: true })
  transport: Transport | null;

  @Column({ type: 'timestamptz', nullable: true })
  lastSeenAt: Date | null;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  // The last health check's verdict and facts (written by health checks, through AgentsService).
  @Column({ type: 'jsonb', nullable: true })
  health: AgentHealth | null;

  @CreateDateColumn({ type: 'timestamptz' })
  enrolledAt: Date;
}
