import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Agents1795324521389 implements MigrationInterface {
  name = 'Agents1795324521389';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "agent_nonces" ("signer" text NOT NULL, "nonce" text NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_40b7ef1c231e97fe4db0c55f417" PRIMARY KEY ("signer", "nonce"))`);
    await queryRunner.query(`CREATE INDEX "IDX_a66170a726cdf99264aabf9a0e" ON "agent_nonces"  ("expires_at") `);
    await queryRunner.query(`CREATE TABLE "agents" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "name" text NOT NULL, "hostname" text NOT NULL, "os" text NOT NULL, "arch" text NOT NULL, "agent_version" text NOT NULL, "public_key" text NOT NULL, "fingerprint" text NOT NULL, "verification_code" text NOT NULL, "status" text NOT NULL, "enrollment_token_id" uuid, "conflicts_with" uuid, "decided_by" uuid, "decided_by_label" text, "decided_at" TIMESTAMP WITH TIME ZONE, "decision_reason" text, "environments" text array NOT NULL DEFAULT '{}', "roles" text array NOT NULL DEFAULT '{}', "policy" jsonb, "connected_node_id" text, "transport" text, "last_seen_at" TIMESTAMP WITH TIME ZONE, "last_error" text, "enrolled_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_89cb385e56f661250131f3fe9d0" UNIQUE ("public_key"), CONSTRAINT "PK_9c653f28ae19c5884d5baf6a1d9" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_b32b6cd92edfba597618dcfe8a" ON "agents"  ("connected_node_id") WHERE connected_node_id IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_467285ce5809d90514d004493f" ON "agents"  ("organization_id", "name") `);
    await queryRunner.query(`CREATE INDEX "IDX_12db708a5e1ae1552c38da5f34" ON "agents"  ("organization_id", "status") `);
    await queryRunner.query(`CREATE TABLE "enrollment_tokens" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "organization_id" uuid NOT NULL, "token_hash" text NOT NULL, "prefix" text NOT NULL, "description" text, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "max_uses" integer NOT NULL, "uses" integer NOT NULL DEFAULT '0', "environments" text array NOT NULL DEFAULT '{}', "roles" text array NOT NULL DEFAULT '{}', "created_by" uuid NOT NULL, "revoked_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_26dd8dccb908ba72ff0f6fc309f" UNIQUE ("token_hash"), CONSTRAINT "PK_d9b043a74d8643fde7e6b948591" PRIMARY KEY ("id"))`);
    await queryRunner.query(`CREATE INDEX "IDX_430d743f3ad5cbadc6d7d7a1a3" ON "enrollment_tokens"  ("organization_id", "created_at") `);
    await queryRunner.query(`CREATE TABLE "server_signing_keys" ("key_id" text NOT NULL, "public_key" text NOT NULL, "private_key_pem" text NOT NULL, "retired_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_955c3086b6807f46a0067d64a18" PRIMARY KEY ("key_id"))`);
    await queryRunner.query(`ALTER TABLE "agents" ADD CONSTRAINT "FK_28ac537f8c7bc3c96f7d1753ec4" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await queryRunner.query(`ALTER TABLE "enrollment_tokens" ADD CONSTRAINT "FK_c591bacf0502a518d27f332552c" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "enrollment_tokens" DROP CONSTRAINT "FK_c591bacf0502a518d27f332552c"`);
    await queryRunner.query(`ALTER TABLE "agents" DROP CONSTRAINT "FK_28ac537f8c7bc3c96f7d1753ec4"`);
    await queryRunner.query(`DROP TABLE "server_signing_keys"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_430d743f3ad5cbadc6d7d7a1a3"`);
    await queryRunner.query(`DROP TABLE "enrollment_tokens"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_12db708a5e1ae1552c38da5f34"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_467285ce5809d90514d004493f"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_b32b6cd92edfba597618dcfe8a"`);
    await queryRunner.query(`DROP TABLE "agents"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_a66170a726cdf99264aabf9a0e"`);
    await queryRunner.query(`DROP TABLE "agent_nonces"`);
  }
}
