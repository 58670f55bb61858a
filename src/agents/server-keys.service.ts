import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';
import { fingerprintOf, generateAgentKeyPair, privateKeyFromPem, signServerPayload } from '../protocol/identity';
import type { ServerKey, SignedEnvelope, SignedPayload } from '../protocol/messages';
import { ServerSigningKey } from './server-signing-key.entity';

const FIRST_KEY_ID = 'srv-1';

/**
 * The control plane's signing key, shared by every node through PostgreSQL. Agents pin the
 * public keys they get at enrollment, so a TLS-inspecting proxy cannot speak for the server.
 */
@Injectable()
export class ServerKeysService implements OnModuleInit {
  private active: { keyId: string; privateKey: KeyObject; publicKey: string } | undefined;

  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit() {
    const repo = this.dataSource.getRepository(ServerSigningKey);
    // Nodes starting together race here; the primary key lets exactly one first key win.
    const generated = generateAgentKeyPair();
    await repo.createQueryBuilder().insert().values({ keyId: FIRST_KEY_ID, publicKey: generated.publicKey, privateKeyPem: generated.privateKeyPem }).orIgnore().execute();
    const current = await repo.findOneOrFail({ where: { retiredAt: IsNull() }, order: { createdAt: 'DESC' } });
    this.active = { keyId: current.keyId, privateKey: privateKeyFromPem(current.privateKeyPem), publicKey: current.publicKey };
  }

  /** Every key an agent should trust: the active one and those not yet retired. */
  async publicKeys(): Promise<ServerKey[]> {
    const keys = await this.dataSource.getRepository(ServerSigningKey).find({ where: { retiredAt: IsNull() }, order: { createdAt: 'DESC' } });
    return keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, fingerprint: fingerprintOf(k.publicKey) }));
  }

  sign(payload: SignedPayload): SignedEnvelope {
    const key = this.active!;
    const json = JSON.stringify(payload);
    return { type: 'signed', keyId: key.keyId, payload: json, signature: signServerPayload(json, key.privateKey) };
  }
}
