/** The rows of a raw query: TypeORM returns [rows, count] for UPDATE/DELETE … RETURNING, rows otherwise. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as T[];
}
