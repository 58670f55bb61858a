import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Environments become resources of their own. The environment labels agents and enrollment tokens
 * already carry become environments of their organisation (in name order), one per name whatever
 * its case, and every label is spelled as its environment is.
 */
export class Environments1796487173021 implements MigrationInterface {
  name = 'Environments1796487173021';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "environments" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" text NOT NULL, "description" text NOT NULL DEFAULT '', "guided_failure" boolean NOT NULL DEFAULT false, "position" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_ec32d12469ec3c2f2f20c4f5e71" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_a9dc9dc042cb323230d3e2131e" ON "environments"  ("organization_id", "name") `);
    await queryRunner.query(`ALTER TABLE "environments" ADD CONSTRAINT "FK_a340a4d674fbeb9305f5899e46e" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(
      `WITH labels AS (
         SELECT organization_id, unnest(environments) AS name FROM agents
         UNION ALL SELECT organization_id, unnest(environments) FROM enrollment_tokens
       ), named AS (
         SELECT organization_id, min(name) AS name FROM labels GROUP BY organization_id, lower(name)
       )
       INSERT INTO "environments" (organization_id, name, position)
       SELECT organization_id, name, (row_number() OVER (PARTITION BY organization_id ORDER BY lower(name))) - 1 FROM named`,
    );
    for (const table of ['agents', 'enrollment_tokens'])
      await queryRunner.query(
        `UPDATE "${table}" x SET environments = ARRAY(
             SELECT DISTINCT ON (lower(l.name)) e.name FROM unnest(x.environments) AS l(name)
               JOIN environments e ON e.organization_id = x.organization_id AND lower(e.name) = lower(l.name))
          WHERE cardinality(x.environments) > 0`,
      );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "environments" DROP CONSTRAINT "FK_a340a4d674fbeb9305f5899e46e"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_a9dc9dc042cb323230d3e2131e"`);
    await queryRunner.query(`DROP TABLE "environments"`);
  }
}
