import { randomBytes } from 'node:crypto';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { CorralLogger } from '../common/logger';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { loadMasterKey, openDataKeys, wrapDataKey } from './master-key';
import { FIRST_KEY_ID, SecretKeysRepository } from './secret-keys.repository';
import { SecretKeyring, sealedKeyId } from './secrets-cipher';

// The backstop behind the cluster event: a node that missed a rotation's announcement loads its key this much later.
export const SECRET_KEYS_RELOAD_SECONDS = 30;

/**
 * Keeps this node's keyring in line with secret_keys: loaded at start (the first key made if
 * there is none), and again when a rotation announces a new key (`secret-keys-changed`, which
 * this node acknowledges with the key it now seals with), after the listener reconnects, and
 * on a timer.
 */
@Injectable()
export class SecretKeysService implements OnModuleInit, OnApplicationShutdown {
  private master: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly repository: SecretKeysRepository,
    private readonly ring: SecretKeyring,
    private readonly events: ClusterEventsService,
    private readonly logger: CorralLogger,
  ) {}

  async onModuleInit() {
    this.master = loadMasterKey(this.config);
    await this.repository.insertFirst(wrapDataKey(this.master, FIRST_KEY_ID, randomBytes(32)));
    await this.reload();
    this.events.on('secret-keys-changed', () => void this.reloadAndConfirm());
    this.events.on('resync', () => void this.reloadQuietly());
    this.timer = setInterval(() => void this.reloadQuietly(), SECRET_KEYS_RELOAD_SECONDS * 1000).unref();
  }

  onApplicationShutdown() {
    clearInterval(this.timer);
  }

  /** Loads the keys again when one of these sealed values names a key this node does not have yet (another node met a rotation first). */
  async know(sealed: readonly string[]): Promise<void> {
    const unknown = () => sealed.some((v) => !this.ring.has(sealedKeyId(v) ?? this.ring.sealing ?? ''));
    // Twice: a load already under way may have read secret_keys before the key was added. If
    // loading fails, opening the value fails next, saying which key is missing.
    for (let i = 0; i < 2 && unknown(); i++) await this.reloadQuietly();
  }

  /** Re-reads secret_keys; one load at a time, and a caller during one waits for it. */
  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const before = this.ring.sealing;
        const rows = await this.repository.all();
        const known = new Map(
          rows.flatMap((r) => {
            const key = this.ring.get(r.id);
            return key ? [[r.id, key] as const] : [];
          }),
        );
        const { keys, sealing } = openDataKeys(this.master!, rows, known);
        this.ring.replace(keys, sealing);
        if (sealing !== before) this.logger.event('info', `secret keys: sealing with ${sealing}; opening with ${[...keys.keys()].join(', ')}`, {}, 'SecretKeys');
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private async reloadAndConfirm() {
    await this.reloadQuietly();
    // The rotation waits for every live node to say it seals with the new key.
    await this.events
      .publishAll([{ kind: 'secret-keys-loaded', nodeId: this.events.nodeId, keyId: this.ring.sealing ?? '' }])
      .catch((err: Error) => this.logger.event('warn', 'could not confirm the secret keys to the rotation', { err: err.message }, 'SecretKeys'));
  }

  private async reloadQuietly() {
    await this.reload().catch((err: Error) => this.logger.event('error', 'could not reload the secret keys; keeping those loaded', { err: err.message }, 'SecretKeys'));
  }
}
