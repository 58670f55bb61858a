import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Lifecycles: phases of environments (by id) a release goes through; each organisation gets its default one when first needed. */
export class Lifecycles1796487632000 implements MigrationInterface {
  name = 'Lifecycles1796487632000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "lifecycles" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" text NOT NULL, "description" text NOT NULL DEFAULT '', "is_default" boolean NOT NULL DEFAULT false, "phases" jsonb NOT NULL DEFAULT '[]', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_d9f2a226e0b8b437d978b5e4298" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_8d794bb67ceb695f2c82e880c7" ON "lifecycles"  ("organization_id") WHERE "is_default"`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_85200f3b8d63341df287bf0a01" ON "lifecycles"  ("organization_id", "name") `);
    await queryRunner.query(`ALTER TABLE "lifecycles" ADD CONSTRAINT "FK_f44c7d86bc892186159d13ec31b" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "lifecycles" DROP CONSTRAINT "FK_f44c7d86bc892186159d13ec31b"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_85200f3b8d63341df287bf0a01"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_8d794bb67ceb695f2c82e880c7"`);
    await queryRunner.query(`DROP TABLE "lifecycles"`);
  }
}
