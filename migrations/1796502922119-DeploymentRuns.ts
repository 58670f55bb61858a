import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A deployment's run state: its steps, each step's agents and jobs, and interruptions waiting for a person. */
export class DeploymentRuns1796502922119 implements MigrationInterface {
  name = 'DeploymentRuns1796502922119';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "deployment_steps" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "deployment_id" uuid NOT NULL, "position" integer NOT NULL, "block" integer NOT NULL, "name" text NOT NULL, "state" text NOT NULL, "reason" text, "ignored" boolean NOT NULL DEFAULT false, CONSTRAINT "PK_f174f18cc29218997a8c9fc5b9a" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_91a82906a07140c197ee01cf8b" ON "deployment_steps"  ("deployment_id", "position") `);
    await queryRunner.query(`CREATE TABLE "deployment_targets" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "deployment_id" uuid NOT NULL, "step_id" uuid NOT NULL, "agent_id" uuid NOT NULL, "agent_name" text NOT NULL, "state" text NOT NULL, "reason" text, "job_id" uuid, CONSTRAINT "PK_506b9b22e187a2bdeec60289da1" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_796279129574027d211e85ac2e" ON "deployment_targets"  ("job_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_310f853d846df9fbda39fa4d26" ON "deployment_targets"  ("step_id") `);
    await queryRunner.query(`CREATE TABLE "interruptions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "deployment_id" uuid NOT NULL, "step_id" uuid NOT NULL, "kind" text NOT NULL, "instructions" text NOT NULL, "responsible_role" text NOT NULL, "action" text, "note" text NOT NULL DEFAULT '', "answered_by" uuid, "answered_by_label" text, "answered_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_51966befef5b37ddca43966d9a1" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_370e21c988d71f4f977cfbccd8" ON "interruptions"  ("organization_id", "deployment_id") `);
    await queryRunner.query(`ALTER TABLE "deployments" ADD "cancel_requested_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "deployment_steps" ADD CONSTRAINT "FK_45d8bee23eb41b9b4ce1fc22a6b" FOREIGN KEY ("deployment_id") REFERENCES "deployments"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "deployment_targets" ADD CONSTRAINT "FK_310f853d846df9fbda39fa4d26c" FOREIGN KEY ("step_id") REFERENCES "deployment_steps"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "interruptions" ADD CONSTRAINT "FK_b0cb4a61dd1f01de64b0b388d36" FOREIGN KEY ("deployment_id") REFERENCES "deployments"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "interruptions" DROP CONSTRAINT "FK_b0cb4a61dd1f01de64b0b388d36"`);
    await queryRunner.query(`ALTER TABLE "deployment_targets" DROP CONSTRAINT "FK_310f853d846df9fbda39fa4d26c"`);
    await queryRunner.query(`ALTER TABLE "deployment_steps" DROP CONSTRAINT "FK_45d8bee23eb41b9b4ce1fc22a6b"`);
    await queryRunner.query(`ALTER TABLE "deployments" DROP COLUMN "cancel_requested_at"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_370e21c988d71f4f977cfbccd8"`);
    await queryRunner.query(`DROP TABLE "interruptions"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_310f853d846df9fbda39fa4d26"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_796279129574027d211e85ac2e"`);
    await queryRunner.query(`DROP TABLE "deployment_targets"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_91a82906a07140c197ee01cf8b"`);
    await queryRunner.query(`DROP TABLE "deployment_steps"`);
  }
}
