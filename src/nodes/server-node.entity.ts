import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A control-plane node: every process registers itself and beats while it lives. */
@Entity('server_nodes')
export class ServerNode {
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Column({ type: 'text' })
  address: string;

  @Column({ type: 'int' })
  pid: number;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  startedAt: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  lastSeenAt: Date;

  @Column({ type: 'boolean', default: false })
  draining: boolean;

  @Column({ type: 'timestamptz', nullable: true })
  stoppedAt: Date | null;
}
