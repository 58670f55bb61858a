import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { rowsOf } from '../database/query-rows';
import type { DataKeyRow } from './master-key';

export const FIRST_KEY_ID = 'k1';

/** The cluster's data keys (secret_keys): one table for every organisation. */
@Injectable()
export class SecretKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Every key, oldest first. */
  all(): Promise<DataKeyRow[]> {
    return this.dataSource.query(`SELECT id, wrapped_key AS "wrappedKey", created_at AS "createdAt", retired_at AS "retiredAt" FROM secret_keys ORDER BY created_at, id`);
  }

  /** The first key, unless there is one: nodes starting together race here, and the primary key lets one win. */
  async insertFirst(wrappedKey: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO secret_keys (id, wrapped_key) SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM secret_keys) ON CONFLICT (id) DO NOTHING`, [FIRST_KEY_ID, wrappedKey]);
  }

  async insert(id: string, wrappedKey: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO secret_keys (id, wrapped_key) VALUES ($1, $2)`, [id, wrappedKey]);
  }

  /** Retires every key but `id`; returns those it retired. */
  async retireAllBut(id: string): Promise<string[]> {
    const rows = await this.dataSource.query(`UPDATE secret_keys SET retired_at = now() WHERE id <> $1 AND retired_at IS NULL RETURNING id`, [id]);
    return rowsOf<{ id: string }>(rows).map((r) => r.id);
  }

  /** Control-plane nodes alive now (they beat within `deadAfterSeconds`): those a rotation waits for. */
  async liveNodes(deadAfterSeconds: number): Promise<string[]> {
    const rows = await this.dataSource.query<{ id: string }[]>(`SELECT id FROM server_nodes WHERE stopped_at IS NULL AND last_seen_at >= now() - make_interval(secs => $1)`, [deadAfterSeconds]);
    return rows.map((r) => r.id);
  }
}
