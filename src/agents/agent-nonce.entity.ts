import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Nonces of signed agent requests still inside the clock window: a replay finds its nonce here. */
@Entity('agent_nonces')
@Index(['expiresAt'])
export class AgentNonce {
  @PrimaryColumn({ type: 'text' })
  signer: string;

  @PrimaryColumn({ type: 'text' })
  nonce: string;

  @Column({ type: 'timestamptz' })
  expiresAt: Date;
}
