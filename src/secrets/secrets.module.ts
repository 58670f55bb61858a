import { Module } from '@nestjs/common';
import { SecretKeysRepository } from './secret-keys.repository';
import { SecretKeysService } from './secret-keys.service';
import { SecretKeyring, SecretsCipher } from './secrets-cipher';

/** Sensitive values at rest: SecretsCipher seals and opens them; SecretKeysService keeps the cluster's keys loaded (docs/secrets.md). */
@Module({
  providers: [
    { provide: SecretKeyring, useValue: new SecretKeyring() },
    { provide: SecretsCipher, useFactory: (ring: SecretKeyring) => new SecretsCipher(ring), inject: [SecretKeyring] },
    SecretKeysRepository,
    SecretKeysService,
  ],
  exports: [SecretsCipher, SecretKeysService],
})
export class SecretsModule {}
