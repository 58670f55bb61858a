import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SecretKeys1796606984410 implements MigrationInterface {
  name = 'SecretKeys1796606984410';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "secret_keys" ("id" text NOT NULL, "wrapped_key" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "retired_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_9e5ab8b3d391f1558eaa6ed2c71" PRIMARY KEY ("id"))`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "secret_keys"`);
  }
}
