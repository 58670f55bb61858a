import { Injectable } from '@nestjs/common';
import { DomainException } from '../common/domain.exception';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { OrganizationLimitsService } from './organization-limits.service';

/** Ends one live connection's count; calling it again does nothing. */
export type Release = () => void;

/** What a refused connection is told: a WebSocket closes with it, a stream answers 429 with it. */
export class TooManyConnectionsException extends DomainException {
  constructor(message: string, limit: 'liveConnections' | 'liveConnectionsPerIp', value: number) {
    super('TOO_MANY_CONNECTIONS', message, 429, { limit, value }, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
  }
}

/** A held connection ends when its user leaves a page or an agent goes: soon, but not at once. */
const RETRY_AFTER_SECONDS = 10;

/**
 * The live connections this node holds open (agents' WebSockets, console event streams), counted
 * per organisation and, for streams, per client address, so that no one can take every socket a
 * node has. Counts are per node, like the connections themselves.
 */
@Injectable()
export class LiveConnectionsService {
  private readonly byOrganization = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();

  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly limits: OrganizationLimitsService,
  ) {}

  /**
   * Counts one more connection of the organisation (and of the address, for a console stream: an
   * agent's has none, since many agents share one behind NAT), or throws TooManyConnectionsException.
   */
  async open(organizationId: string, address: string | null): Promise<Release> {
    const { liveConnections } = await this.limits.of(organizationId);
    if ((this.byOrganization.get(organizationId) ?? 0) >= liveConnections)
      throw new TooManyConnectionsException(
        `your organisation already holds ${liveConnections} live connections (agents and event streams) on this node, its limit: close some, or ask the platform's operator to raise it`,
        'liveConnections',
        liveConnections,
      );
    const perAddress = this.config.liveConnectionsPerIp;
    if (address !== null && (this.byAddress.get(address) ?? 0) >= perAddress)
      throw new TooManyConnectionsException(`your address already holds ${perAddress} event streams open on this node, the limit: close some first`, 'liveConnectionsPerIp', perAddress);
    add(this.byOrganization, organizationId, 1);
    if (address !== null) add(this.byAddress, address, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      add(this.byOrganization, organizationId, -1);
      if (address !== null) add(this.byAddress, address, -1);
    };
  }

  /** How many the organisation holds open on this node. */
  heldBy(organizationId: string): number {
    return this.byOrganization.get(organizationId) ?? 0;
  }
}

function add(counts: Map<string, number>, key: string, n: number) {
  const next = (counts.get(key) ?? 0) + n;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}
