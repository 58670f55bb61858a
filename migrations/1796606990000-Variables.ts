import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Project and library-set variables (and releases' snapshots of them), and the sets a project includes. */
export class Variables1796606990000 implements MigrationInterface {
  name = 'Variables1796606990000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "variable_sets" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" text NOT NULL, "description" text NOT NULL DEFAULT '', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_1750683b586fe3aa1cf16f88ae3" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_1752ea5874916d275975269808" ON "variable_sets"  ("organization_id", "name") `);
    await queryRunner.query(`CREATE TABLE "variables" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "owner_kind" text NOT NULL, "owner_id" uuid NOT NULL, "position" integer NOT NULL, "name" text NOT NULL, "value" text, "sealed_value" text, "sensitive" boolean NOT NULL DEFAULT false, "description" text NOT NULL DEFAULT '', "scope" jsonb NOT NULL DEFAULT '{}', "prompt" jsonb, "source" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_395ef5737c2bfc06e701bd2f7e8" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_763c35efb8c472a4f465f774e3" ON "variables"  ("organization_id", "owner_kind", "owner_id", "position") `);
    await queryRunner.query(`ALTER TABLE "projects" ADD "variable_set_ids" uuid array NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "variable_sets" ADD CONSTRAINT "FK_7c7f861b6aef81447c24d27afec" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "variables" ADD CONSTRAINT "FK_82a07963481be01169939ce4c18" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "variables" DROP CONSTRAINT "FK_82a07963481be01169939ce4c18"`);
    await queryRunner.query(`ALTER TABLE "variable_sets" DROP CONSTRAINT "FK_7c7f861b6aef81447c24d27afec"`);
    await queryRunner.query(`ALTER TABLE "projects" DROP COLUMN "variable_set_ids"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_763c35efb8c472a4f465f774e3"`);
    await queryRunner.query(`DROP TABLE "variables"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_1752ea5874916d275975269808"`);
    await queryRunner.query(`DROP TABLE "variable_sets"`);
  }
}
