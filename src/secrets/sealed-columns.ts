/**
 * A column that holds sealed values (SecretsCipher): `npm run secrets -- rotate` re-encrypts
 * every value of every column listed here. A module that seals a column adds it to SEALED_COLUMNS.
 */
export interface SealedColumn {
  table: string;
  /** The primary key, of type `idType` (uuid by default); the rotation walks the table in its order. */
  idColumn: string;
  idType?: string;
  column: string;
  /** A text[] of sealed values rather than one text value (NULL: nothing sealed). */
  array?: boolean;
  /** Columns `aad` needs besides the id. */
  aadColumns?: string[];
  /** The associated data each value of the row was sealed with; `row.id` is the id column's value. */
  aad(row: Record<string, string>): string;
}

/** The engine's job secrets (jobs.secrets): bound to the job's organisation, since the job's id is made by the statement that inserts it. */
export function jobSecretAad(organizationId: string): string {
  return `job-secret:${organizationId}`;
}

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'jobs', idColumn: 'id', column: 'secrets', array: true, aadColumns: ['organization_id'], aad: (row) => jobSecretAad(row.organization_id) },
  // Sensitive outputs of jobs (corral set-output --sensitive; tasks/job-outputs.ts).
  { table: 'job_outputs', idColumn: 'id', column: 'sealed_value', aad: (row) => jobOutputAad(row.id) },
  // Sensitive variable values of projects, library sets, release snapshots and deployments (variables.service.ts).
  { table: 'variables', idColumn: 'id', column: 'sealed_value', aad: (row) => variableAad(row.id) },
];

/** A sensitive variable value is bound to its own row. */
export function variableAad(id: string): string {
  return `variable:${id}`;
}

/** A sensitive job output is bound to its own row. */
export function jobOutputAad(id: string): string {
  return `job-output:${id}`;
}
