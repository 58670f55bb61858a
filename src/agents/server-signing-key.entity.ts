import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** The control plane's Ed25519 keys; agents pin the public halves at enrollment. */
@Entity('server_signing_keys')
export class ServerSigningKey {
  @PrimaryColumn({ type: 'text' })
  keyId: string;

  @Column({ type: 'text' })
  publicKey: string;

  @Column({ type: 'text' })
  privateKeyPem: string;

  // Signing starts when a key is activated (the newest active key signs); until then agents
  // only learn it. Retired keys are neither used nor trusted.
  @Column({ type: 'timestamptz', nullable: true })
  activatedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  retiredAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
