import { DataSource } from 'typeorm';
import { rowsOf } from '../database/query-rows';
import type { SealedColumn } from './sealed-columns';

/** A row's sealed values as stored: a JSON array for a text[] column, a JSON string for a text one. */
export interface SealedRow {
  id: string;
  value: string | string[];
  extra: Record<string, string>;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The values of the sealed columns, whatever their organisation: only the rotation (an operator's command) reads them this way. */
export class SealedValuesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Rows after `afterId` (in id order) holding a value that is not sealed under `keyId`. */
  async findNotUnder(c: SealedColumn, keyId: string, afterId: string | null, limit: number): Promise<SealedRow[]> {
    const [id, col, type] = [quote(c.idColumn), quote(c.column), c.idType ?? 'uuid'];
    const notUnder = c.array ? `EXISTS (SELECT 1 FROM unnest(${col}) AS v WHERE v NOT LIKE $1)` : `${col} NOT LIKE $1`;
    const extra = (c.aadColumns ?? []).map((a) => `, ${quote(a)}::text AS ${quote(`x_${a}`)}`).join('');
    const rows = await this.dataSource.query<Record<string, unknown>[]>(
      `SELECT ${id}::text AS id, to_jsonb(${col}) AS value${extra} FROM ${quote(c.table)}
        WHERE ${notUnder} AND ($2::${type} IS NULL OR ${id} > $2::${type})
        ORDER BY ${id} LIMIT $3`,
      [`c1.${keyId}.%`, afterId, limit],
    );
    return rows.map((r) => ({
      id: r.id as string,
      value: r.value as string | string[],
      extra: Object.fromEntries((c.aadColumns ?? []).map((a) => [a, r[`x_${a}`] as string])),
    }));
  }

  /**
   * Writes the new values of rows whose column still holds what was read (a row that changed
   * meanwhile is left for the next pass). Rows another transaction has locked are skipped, not
   * waited for: the rotation never holds up, or deadlocks with, the paths that use them.
   */
  async replace(c: SealedColumn, rows: { id: string; old: string | string[]; new: string | string[] }[]): Promise<number> {
    if (!rows.length) return 0;
    const [id, col, table, type] = [quote(c.idColumn), quote(c.column), quote(c.table), c.idType ?? 'uuid'];
    const result = await this.dataSource.query(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id ${type}, old jsonb, new jsonb)),
         free AS (SELECT t.${id} AS id FROM ${table} t JOIN x ON t.${id} = x.id FOR UPDATE OF t SKIP LOCKED)
       UPDATE ${table} t SET ${col} = ${c.array ? 'ARRAY(SELECT jsonb_array_elements_text(x.new))' : `x.new #>> '{}'`}
         FROM x WHERE t.${id} = x.id AND t.${id} IN (SELECT id FROM free) AND to_jsonb(t.${col}) = x.old
       RETURNING t.${id}`,
      [JSON.stringify(rows)],
    );
    return rowsOf(result).length;
  }

  /** How many values each key seals in this column ("-" for a value not sealed at all). */
  async countByKey(c: SealedColumn): Promise<{ keyId: string; n: number }[]> {
    const col = quote(c.column);
    const values = c.array ? `${quote(c.table)} t CROSS JOIN LATERAL unnest(t.${col}) AS v(value)` : `(SELECT ${col} AS value FROM ${quote(c.table)} WHERE ${col} IS NOT NULL) v`;
    return this.dataSource.query(`SELECT CASE WHEN value LIKE 'c1.%' THEN split_part(value, '.', 2) ELSE '-' END AS "keyId", count(*)::int AS n FROM ${values} GROUP BY 1 ORDER BY 1`);
  }
}
