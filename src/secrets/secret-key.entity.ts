import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * A data key of the cluster (k1, k2, …), sealed with the master key (CORRAL_SECRETS_KEY). The
 * newest unretired one seals new values; every one still here opens what it sealed. A rotation
 * retires the old ones once no value is left under them.
 */
@Entity('secret_keys')
export class SecretKey {
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Column({ type: 'text' })
  wrappedKey: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  retiredAt: Date | null;
}
