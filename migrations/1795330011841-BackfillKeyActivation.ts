import type { MigrationInterface, QueryRunner } from 'typeorm';

// Written by hand (data, not schema): before keys had an activation time, every unretired key
// counted as active, the newest one signing. They keep that meaning.
export class BackfillKeyActivation1795330011841 implements MigrationInterface {
  name = 'BackfillKeyActivation1795330011841';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`UPDATE server_signing_keys SET activated_at = created_at WHERE activated_at IS NULL AND retired_at IS NULL`);
  }

  async down(): Promise<void> {
    // Nothing to undo: the column itself goes with the migration before this one.
  }
}
