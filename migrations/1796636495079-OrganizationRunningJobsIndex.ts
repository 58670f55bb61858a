import type { MigrationInterface, QueryRunner } from 'typeorm';

export class OrganizationRunningJobsIndex1796636495079 implements MigrationInterface {
  name = 'OrganizationRunningJobsIndex1796636495079';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_jobs_org_held" ON "jobs"  ("organization_id") WHERE lease_expires_at IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_org_held"`);
  }
}
