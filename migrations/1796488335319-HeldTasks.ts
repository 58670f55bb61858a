import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A task its kind's module holds open (an orchestrator), and the outcome the module concludes it with. */
export class HeldTasks1796488335319 implements MigrationInterface {
  name = 'HeldTasks1796488335319';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" ADD "held" boolean NOT NULL DEFAULT false`);
    await queryRunner.query(`ALTER TABLE "tasks" ADD "outcome" text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "outcome"`);
    await queryRunner.query(`ALTER TABLE "tasks" DROP COLUMN "held"`);
  }
}
