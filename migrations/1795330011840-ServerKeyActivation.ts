import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ServerKeyActivation1795330011840 implements MigrationInterface {
  name = 'ServerKeyActivation1795330011840';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "server_signing_keys" ADD "activated_at" TIMESTAMP WITH TIME ZONE`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "server_signing_keys" DROP COLUMN "activated_at"`);
  }
}
