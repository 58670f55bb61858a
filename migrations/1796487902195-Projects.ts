import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Projects, and the versions of their deployment process (every edit is a new version). */
export class Projects1796487902195 implements MigrationInterface {
  name = 'Projects1796487902195';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "projects" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" text NOT NULL, "slug" text NOT NULL, "description" text NOT NULL DEFAULT '', "lifecycle_id" uuid, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6271df0a7aed1d6c0691ce6ac50" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_91e87addbc79ac4eeb56f51e09" ON "projects"  ("organization_id", "name") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_9e19e6e534ee8bc908e801e5d3" ON "projects"  ("organization_id", "slug") `);
    await queryRunner.query(`CREATE TABLE "process_versions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "project_id" uuid NOT NULL, "version" integer NOT NULL, "steps" jsonb NOT NULL, "created_by" uuid, "created_by_label" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_946bd456a45f6dfd629525107fb" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_105bfa94ca91cceb945a0f6931" ON "process_versions"  ("project_id", "version") `);
    await queryRunner.query(`ALTER TABLE "projects" ADD CONSTRAINT "FK_585c8ce06628c70b70100bfb842" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "projects" ADD CONSTRAINT "FK_a92d42d33a55aa78036f9df5850" FOREIGN KEY ("lifecycle_id") REFERENCES "lifecycles"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "process_versions" ADD CONSTRAINT "FK_9fe3a39a22f46d8e518f000c54f" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "process_versions" DROP CONSTRAINT "FK_9fe3a39a22f46d8e518f000c54f"`);
    await queryRunner.query(`ALTER TABLE "projects" DROP CONSTRAINT "FK_a92d42d33a55aa78036f9df5850"`);
    await queryRunner.query(`ALTER TABLE "projects" DROP CONSTRAINT "FK_585c8ce06628c70b70100bfb842"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_105bfa94ca91cceb945a0f6931"`);
    await queryRunner.query(`DROP TABLE "process_versions"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_9e19e6e534ee8bc908e801e5d3"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_91e87addbc79ac4eeb56f51e09"`);
    await queryRunner.query(`DROP TABLE "projects"`);
  }
}
