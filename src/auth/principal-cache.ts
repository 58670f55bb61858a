import type { ApiKeyPrincipal } from './api-keys.repository';

/**
 * How long a node trusts an API key's principal as it last read it. It bounds what a lost
 * notification could leave behind: one second, as long as ending a member's access may take.
 */
export const PRINCIPAL_TTL_MS = 1000;
const MAX_ENTRIES = 10_000;

/**
 * API-key principals as the database last gave them, by key hash. A pipeline sends one request
 * after another with the same key, and a lookup per request was most of a task's statements on
 * its way in (benchmark evidence: bench/EVIDENCE.md, with its invalidation). Only keys found valid are kept.
 *
 * Invalidation: a revocation, a role change or a removal in an organisation (`forget`, through
 * the credentials-changed cluster event: on the changing node at once, on others as the
 * notification arrives) drops that organisation's principals, and a lookup that was under way
 * meanwhile is not kept; after the event listener reconnected (events may have been missed)
 * everything is dropped (`clear`); any entry expires after PRINCIPAL_TTL_MS regardless.
 */
export class PrincipalCache {
  private readonly entries = new Map<string, { principal: ApiKeyPrincipal; expiresAt: number }>();
  private generation = 0;

  get(keyHash: string, now = Date.now()): ApiKeyPrincipal | undefined {
    const entry = this.entries.get(keyHash);
    if (entry && entry.expiresAt > now) return entry.principal;
    if (entry) this.entries.delete(keyHash);
    return undefined;
  }

  /** Looks `keyHash` up with `read`, keeping a valid answer unless an invalidation happened meanwhile. */
  async read(keyHash: string, read: (keyHash: string) => Promise<ApiKeyPrincipal | null>): Promise<ApiKeyPrincipal | null> {
    const cached = this.get(keyHash);
    if (cached) return cached;
    const generation = this.generation;
    const principal = await read(keyHash);
    if (principal?.creatorRole && generation === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(keyHash, { principal, expiresAt: Date.now() + PRINCIPAL_TTL_MS });
    }
    return principal;
  }

  forget(organizationId: string) {
    this.generation++;
    for (const [hash, { principal }] of this.entries) if (principal.organizationId === organizationId) this.entries.delete(hash);
  }

  clear() {
    this.generation++;
    this.entries.clear();
  }
}
