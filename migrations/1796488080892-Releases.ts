import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Releases (snapshots of a process version) and the deployments of each to an environment. */
export class Releases1796488080892 implements MigrationInterface {
  name = 'Releases1796488080892';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "releases" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "project_id" uuid NOT NULL, "version" text NOT NULL, "notes" text NOT NULL DEFAULT '', "process_version" integer NOT NULL, "steps" jsonb NOT NULL, "created_by" uuid, "created_by_label" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6b6fc2599a5a281dd44a7d64016" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_0f575d0f6c797764cd17f0e567" ON "releases"  ("organization_id", "project_id", "created_at") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_4374d646e62eb4f6c54d7f6361" ON "releases"  ("project_id", "version") `);
    await queryRunner.query(`CREATE TABLE "deployments" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "project_id" uuid NOT NULL, "release_id" uuid NOT NULL, "environment_id" uuid NOT NULL, "task_id" uuid, "state" text NOT NULL, "guided_failure" boolean NOT NULL DEFAULT false, "skip_steps" text array NOT NULL DEFAULT '{}', "exclude_agent_ids" uuid array NOT NULL DEFAULT '{}', "created_by" uuid, "created_by_label" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "finished_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_1e5627acb3c950deb83fe98fc48" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_d1c668b080dbe1e23eddf6646e" ON "deployments"  ("project_id", "environment_id", "created_at") `);
    await queryRunner.query(`CREATE INDEX "IDX_6a1ea3d5ea06cf9729742c781f" ON "deployments"  ("release_id", "environment_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_001ad76f3f844f0cbdbe8215ca" ON "deployments"  ("organization_id", "created_at") `);
    await queryRunner.query(`ALTER TABLE "releases" ADD CONSTRAINT "FK_02bc65837f42eebd942c688fb25" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "deployments" ADD CONSTRAINT "FK_8689e0990bb2d64b992d27d496e" FOREIGN KEY ("release_id") REFERENCES "releases"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "deployments" DROP CONSTRAINT "FK_8689e0990bb2d64b992d27d496e"`);
    await queryRunner.query(`ALTER TABLE "releases" DROP CONSTRAINT "FK_02bc65837f42eebd942c688fb25"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_001ad76f3f844f0cbdbe8215ca"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_6a1ea3d5ea06cf9729742c781f"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_d1c668b080dbe1e23eddf6646e"`);
    await queryRunner.query(`DROP TABLE "deployments"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_4374d646e62eb4f6c54d7f6361"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_0f575d0f6c797764cd17f0e567"`);
    await queryRunner.query(`DROP TABLE "releases"`);
  }
}
