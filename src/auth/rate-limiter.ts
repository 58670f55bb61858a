import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface RateLimitVerdict {
  allowed: boolean;
  retryAfterSeconds: number;
}

/** Fixed-window counters kept in PostgreSQL, so the limit holds across all control-plane nodes. */
@Injectable()
export class RateLimiter {
  constructor(private readonly dataSource: DataSource) {}

  /** Counts one hit against `key` and says whether it is within `limit` per `windowSeconds`. */
  async hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitVerdict> {
    const [row] = await this.dataSource.query<{ count: number; retry_after: number }[]>(
      `INSERT INTO rate_limit_buckets AS b (key, window_start, count) VALUES ($1, now(), 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN b.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE b.count + 1 END,
         window_start = CASE WHEN b.window_start <= now() - make_interval(secs => $2) THEN now() ELSE b.window_start END
       RETURNING count, ceil(extract(epoch FROM (window_start + make_interval(secs => $2) - now())))::int AS retry_after`,
      [key, windowSeconds],
    );
    return { allowed: row.count <= limit, retryAfterSeconds: Math.max(1, row.retry_after) };
  }

  async reset(key: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM rate_limit_buckets WHERE key = $1`, [key]);
  }

  async pruneExpired(maxWindowSeconds: number): Promise<void> {
    await this.dataSource.query(`DELETE FROM rate_limit_buckets WHERE window_start < now() - make_interval(secs => $1)`, [maxWindowSeconds]);
  }
}
