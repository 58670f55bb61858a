import type { MigrationInterface, QueryRunner } from 'typeorm';

/** What jobs set for later steps (corral set-output), sensitive ones sealed. */
export class JobOutputs1796608225808 implements MigrationInterface {
  name = 'JobOutputs1796608225808';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "job_outputs" ("id" uuid NOT NULL, "organization_id" uuid NOT NULL, "job_id" uuid NOT NULL, "name" text NOT NULL, "value" text, "sealed_value" text, "sensitive" boolean NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_8009621fc9857e58aa174c6b07f" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_03d2b0e8c811e4ae6d29bc808c" ON "job_outputs"  ("organization_id", "job_id") `);
    await queryRunner.query(`ALTER TABLE "job_outputs" ADD CONSTRAINT "FK_731681e7fd0a356db9c6b3dd624" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "job_outputs" DROP CONSTRAINT "FK_731681e7fd0a356db9c6b3dd624"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_03d2b0e8c811e4ae6d29bc808c"`);
    await queryRunner.query(`DROP TABLE "job_outputs"`);
  }
}
