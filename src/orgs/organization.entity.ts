import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { LimitName } from './organization-limits';

@Entity('organizations')
export class Organization {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', unique: true })
  slug: string;

  /** The limits a platform operator set for this organisation; the others are the defaults. */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  limits: Partial<Record<LimitName, number>>;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
