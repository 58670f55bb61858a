import type { MigrationInterface, QueryRunner } from 'typeorm';

export class OrganizationLimits1796624895919 implements MigrationInterface {
  name = 'OrganizationLimits1796624895919';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "organizations" ADD "limits" jsonb NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_queued" ON "tasks"  ("organization_id") WHERE state = 'queued'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_queued"`);
    await queryRunner.query(`ALTER TABLE "organizations" DROP COLUMN "limits"`);
  }
}
