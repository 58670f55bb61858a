import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';
import { fingerprintOf, generateAgentKeyPair, privateKeyFromPem, signServerPayload } from '../protocol/identity';
import { PROTOCOL_VERSION, type ServerKey, type SignedEnvelope, type SignedPayload } from '../protocol/messages';
import { ServerSigningKey } from './server-signing-key.entity';

const FIRST_KEY_ID = 'srv-1';

/** The keys agents should trust: every unretired one, newest first. */
export async function trustedKeys(dataSource: DataSource): Promise<ServerSigningKey[]> {
  return dataSource.getRepository(ServerSigningKey).find({ where: { retiredAt: IsNull() }, order: { createdAt: 'DESC' } });
}

/**
 * The control plane's signing keys, shared by every node through PostgreSQL. Agents pin the
 * public keys they get at enrollment, so a TLS-inspecting proxy cannot speak for the server.
 * Rotation (npm run server-key): a new key is first published (agents learn it through a
 * `server.keys` message signed by a key they trust), then activated (it signs), and the old
 * one retired.
 */
@Injectable()
export class ServerKeysService implements OnModuleInit {
  private active: { keyId: string; privateKey: KeyObject } | undefined;
  private trusted: ServerKey[] = [];

  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit() {
    // Nodes starting together race here; the primary key lets exactly one first key win.
    const generated = generateAgentKeyPair();
    await this.dataSource
      .getRepository(ServerSigningKey)
      .createQueryBuilder()
      .insert()
      .values({ keyId: FIRST_KEY_ID, publicKey: generated.publicKey, privateKeyPem: generated.privateKeyPem, activatedAt: () => 'now()' })
      .orIgnore()
      .execute();
    await this.reload();
  }

  /** Re-reads the keys (after a rotation step announced by any node or the CLI). */
  async reload(): Promise<void> {
    const keys = await trustedKeys(this.dataSource);
    const signing = keys.filter((k) => k.activatedAt).sort((a, b) => b.activatedAt!.getTime() - a.activatedAt!.getTime())[0];
    if (!signing) throw new Error('no active server signing key: activate one with "npm run server-key -- activate <keyId>"');
    this.active = { keyId: signing.keyId, privateKey: privateKeyFromPem(signing.privateKeyPem) };
    this.trusted = keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, fingerprint: fingerprintOf(k.publicKey) }));
  }

  /** The key this node signs with, as an install command pins it. */
  signingKey(): ServerKey {
    const key = this.trusted.find((k) => k.keyId === this.active?.keyId);
    if (!key) throw new Error('the server signing keys are not loaded yet');
    return key;
  }

  /** Every key an agent should trust: the active one and those published or not yet retired. */
  publicKeys(): ServerKey[] {
    return this.trusted;
  }

  /** The signed key set for an agent whose pinned key ids differ from the trusted ones, else null. */
  keySetFor(agentId: string, pinned: readonly string[] | undefined): SignedEnvelope | null {
    if (!pinned) return null; // an agent too old to say what it pins
    const current = this.trusted.map((k) => k.keyId);
    if (current.length === pinned.length && current.every((id) => pinned.includes(id))) return null;
    return this.sign({ type: 'server.keys', v: PROTOCOL_VERSION, agentId, keys: this.trusted, issuedAt: Date.now() });
  }

  sign(payload: SignedPayload): SignedEnvelope {
    const key = this.active!;
    const json = JSON.stringify(payload);
    return { type: 'signed', keyId: key.keyId, payload: json, signature: signServerPayload(json, key.privateKey) };
  }
}
