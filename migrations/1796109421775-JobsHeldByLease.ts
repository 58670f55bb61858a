import type { MigrationInterface, QueryRunner } from 'typeorm';

export class JobsHeldByLease1796109421775 implements MigrationInterface {
  name = 'JobsHeldByLease1796109421775';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_held_by_agent"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_leased"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_0aa59db7c6514c431a1dbf5c18"`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_held" ON "jobs"  ("agent_id", "lease_expires_at") WHERE lease_expires_at IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_agent" ON "jobs"  ("agent_id") `);
    await queryRunner.query(`ALTER TABLE "jobs" ADD CONSTRAINT "CHK_jobs_lease_iff_held" CHECK ((lease_expires_at IS NOT NULL) = (state IN ('offered', 'running')))`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "jobs" DROP CONSTRAINT "CHK_jobs_lease_iff_held"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_agent"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_held"`);
    await queryRunner.query(`CREATE INDEX "IDX_0aa59db7c6514c431a1dbf5c18" ON "jobs" USING btree ("agent_id", "created_at") `);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_leased" ON "jobs" USING btree ("lease_expires_at") WHERE (state = ANY (ARRAY['offered'::text, 'running'::text]))`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_held_by_agent" ON "jobs" USING btree ("agent_id") WHERE (state = ANY (ARRAY['offered'::text, 'running'::text]))`);
  }
}
