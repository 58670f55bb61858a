import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Tasks1795326660975 implements MigrationInterface {
  name = 'Tasks1795326660975';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "server_nodes" ("id" text NOT NULL, "address" text NOT NULL, "pid" integer NOT NULL, "started_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "last_seen_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "draining" boolean NOT NULL DEFAULT false, "stopped_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_9fe67b9171139b032e02d1f4a9c" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE TABLE "tasks" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" text NOT NULL, "kind" text NOT NULL, "state" text NOT NULL, "script_syntax" text NOT NULL, "script_body" text NOT NULL, "timeout_seconds" integer NOT NULL, "concurrency_key" text, "blocked_by" uuid, "idempotent" boolean NOT NULL DEFAULT false, "max_attempts" integer NOT NULL DEFAULT '1', "sensitive_values" text array NOT NULL DEFAULT '{}', "created_by" uuid, "created_by_label" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "started_at" TIMESTAMP WITH TIME ZONE, "finished_at" TIMESTAMP WITH TIME ZONE, "cancel_requested_at" TIMESTAMP WITH TIME ZONE, "cancel_requested_by" text, CONSTRAINT "PK_8d12ff38fcc62aaba2cab748772" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_blocked_by" ON "tasks"  ("blocked_by") WHERE blocked_by IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_tasks_active_concurrency_key" ON "tasks"  ("organization_id", "concurrency_key", "created_at") WHERE concurrency_key IS NOT NULL AND state IN ('queued', 'running', 'cancelling')`);
    await queryRunner.query(`CREATE INDEX "IDX_bf68913f8102d19cc277c9ff69" ON "tasks"  ("organization_id", "created_at") `);
    await queryRunner.query(`CREATE TABLE "jobs" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "task_id" uuid NOT NULL, "organization_id" uuid NOT NULL, "agent_id" uuid NOT NULL, "state" text NOT NULL, "attempt" integer NOT NULL DEFAULT '1', "ready" boolean NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "queued_at" TIMESTAMP WITH TIME ZONE, "available_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "offered_at" TIMESTAMP WITH TIME ZONE, "offered_by_node" text, "lease_expires_at" TIMESTAMP WITH TIME ZONE, "started_at" TIMESTAMP WITH TIME ZONE, "finished_at" TIMESTAMP WITH TIME ZONE, "exit_code" integer, "signal" text, "message" text, "cancel_requested_at" TIMESTAMP WITH TIME ZONE, "next_log_seq" integer NOT NULL DEFAULT '0', "log_bytes" bigint NOT NULL DEFAULT '0', "log_truncated" boolean NOT NULL DEFAULT false, "mask_carry" jsonb NOT NULL DEFAULT '{}'::jsonb, CONSTRAINT "PK_cf0a6c42b72fcc7f7c237def345" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_waiting" ON "jobs"  ("queued_at") WHERE state = 'queued' AND ready`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_held_by_agent" ON "jobs"  ("agent_id") WHERE state IN ('offered', 'running')`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_leased" ON "jobs"  ("lease_expires_at") WHERE state IN ('offered', 'running')`);
    await queryRunner.query(`CREATE INDEX "IDX_jobs_claimable" ON "jobs"  ("agent_id", "created_at") WHERE state = 'queued' AND ready`);
    await queryRunner.query(`CREATE INDEX "IDX_0aa59db7c6514c431a1dbf5c18" ON "jobs"  ("agent_id", "created_at") `);
    await queryRunner.query(`CREATE INDEX "IDX_ff0e5dc722b3fe239437acb3c3" ON "jobs"  ("task_id") `);
    await queryRunner.query(`CREATE TABLE "log_chunks" ("job_id" uuid NOT NULL, "attempt" integer NOT NULL, "seq" integer NOT NULL, "task_id" uuid NOT NULL, "stream" text NOT NULL, "text" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b66e8a38dda12d27f7ef7d643d1" PRIMARY KEY ("job_id", "attempt", "seq"))`);
    await queryRunner.query(`CREATE INDEX "IDX_5be82a1b27a27908a88e240dba" ON "log_chunks"  ("task_id", "created_at") `);
    await queryRunner.query(`ALTER TABLE "tasks" ADD CONSTRAINT "FK_44a9b5209cdfd6f72fb09a7c994" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD CONSTRAINT "FK_ff0e5dc722b3fe239437acb3c34" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "jobs" ADD CONSTRAINT "FK_38a8fbe70d33e28ad3939c973b1" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "log_chunks" ADD CONSTRAINT "FK_0a971dccd8b68f100e31eb52c42" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "log_chunks" DROP CONSTRAINT "FK_0a971dccd8b68f100e31eb52c42"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP CONSTRAINT "FK_38a8fbe70d33e28ad3939c973b1"`);
    await queryRunner.query(`ALTER TABLE "jobs" DROP CONSTRAINT "FK_ff0e5dc722b3fe239437acb3c34"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP CONSTRAINT "FK_44a9b5209cdfd6f72fb09a7c994"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_5be82a1b27a27908a88e240dba"`);
    await queryRunner.query(`DROP TABLE "log_chunks"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_ff0e5dc722b3fe239437acb3c3"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_0aa59db7c6514c431a1dbf5c18"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_claimable"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_leased"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_held_by_agent"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_jobs_waiting"`);
    await queryRunner.query(`DROP TABLE "jobs"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_bf68913f8102d19cc277c9ff69"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_active_concurrency_key"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_tasks_blocked_by"`);
    await queryRunner.query(`DROP TABLE "tasks"`);
    await queryRunner.query(`DROP TABLE "server_nodes"`);
  }
}
