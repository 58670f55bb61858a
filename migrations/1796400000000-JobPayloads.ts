import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Jobs carry their own name, timeout, kind, payload and secrets, so an offer is built from the job
 * row alone (a task no longer is a script run); a kind may hand back a result; agents keep their
 * last health check. Existing script tasks keep their script as the task's spec and as each job's
 * payload.
 */
export class JobPayloads1796400000000 implements MigrationInterface {
  name = 'JobPayloads1796400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "agents" ADD "health" jsonb`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "spec" jsonb NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "parent_task_id" uuid`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD "name" text`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD "timeout_seconds" integer`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD "kind" text`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD "payload" jsonb`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD "secrets" text array NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD "result" jsonb`);
    await queryRunner.query(`UPDATE "tasks" SET "spec" = jsonb_build_object('script', jsonb_build_object('syntax', script_syntax, 'body', script_body))`);
    await queryRunner.query(
      `UPDATE "jobs" j SET "name" = t.name, "timeout_seconds" = t.timeout_seconds, "kind" = t.kind, "payload" = jsonb_build_object('payloadVersion', 1, 'script', jsonb_build_object('syntax', t.script_syntax, 'body', t.script_body)),
              "secrets" = CASE WHEN j.state IN ('queued', 'offered', 'running', 'unknown') THEN t.sensitive_values ELSE '{}' END
         FROM "tasks" t WHERE t.id = j.task_id`,
    );
    await queryRunner.query(`ALTER TABLE "jobs" ALTER COLUMN "name" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "jobs" ALTER COLUMN "timeout_seconds" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "jobs" ALTER COLUMN "kind" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "jobs" ALTER COLUMN "payload" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "script_syntax"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "script_body"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "sensitive_values"`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" ADD "sensitive_values" text array NOT NULL DEFAULT '{}'`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "script_body" text`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "script_syntax" text`);
    // Only script tasks existed before; any other kind cannot be represented and goes.
    await queryRunner.query(`DELETE FROM "tasks" WHERE kind <> 'script'`);
    await queryRunner.query(`UPDATE "tasks" SET "script_syntax" = spec -> 'script' ->> 'syntax', "script_body" = spec -> 'script' ->> 'body'`);
    await queryRunner.query(
      `UPDATE "tasks" t SET "sensitive_values" = COALESCE((SELECT j.secrets FROM "jobs" j WHERE j.task_id = t.id AND cardinality(j.secrets) > 0 LIMIT 1), '{}')`,
    );
    await queryRunner.query(`ALTER TABLE "tasks" ALTER COLUMN "script_body" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "tasks" ALTER COLUMN "script_syntax" SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP COLUMN "result"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP COLUMN "secrets"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP COLUMN "payload"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP COLUMN "kind"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP COLUMN "timeout_seconds"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP COLUMN "name"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "parent_task_id"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "spec"`);
    await queryRunner.query(`ALTER TABLE "agents" DROP COLUMN "health"`);
  }
}
