import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Fixed-window counters in PostgreSQL so every control-plane node enforces the same limit. */
@Entity('rate_limit_buckets')
export class RateLimitBucket {
  @PrimaryColumn({ type: 'text' })
  key: string;

  @Column({ type: 'timestamptz' })
  windowStart: Date;

  @Column({ type: 'integer' })
  count: number;
}
