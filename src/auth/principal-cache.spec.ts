import type { ApiKeyPrincipal } from './api-keys.repository';
import { PRINCIPAL_TTL_MS, PrincipalCache } from './principal-cache';

const principal = (organizationId: string, creatorRole: ApiKeyPrincipal['creatorRole'] = 'admin'): ApiKeyPrincipal => ({
  apiKeyId: 'k',
  name: 'ci',
  keyRole: 'admin',
  organizationId,
  userId: 'u',
  email: 'u@example.com',
  creatorRole,
});

describe('PrincipalCache', () => {
  it('keeps a valid principal until it expires, and never an invalid one', async () => {
    const cache = new PrincipalCache();
    const read = jest.fn(async (hash: string) => (hash === 'gone' ? null : hash === 'removed' ? principal('o', null) : principal('o')));
    for (let i = 0; i < 3; i++) for (const hash of ['valid', 'gone', 'removed']) await cache.read(hash, read);
    expect(read.mock.calls.map(([hash]) => hash).sort()).toEqual(['gone', 'gone', 'gone', 'removed', 'removed', 'removed', 'valid']);
    expect(cache.get('valid', Date.now() + PRINCIPAL_TTL_MS + 1)).toBeUndefined();
  });

  it("forgets an organisation's principals, and only those", async () => {
    const cache = new PrincipalCache();
    await cache.read('mine', async () => principal('mine'));
    await cache.read('theirs', async () => principal('theirs'));
    cache.forget('mine');
    expect(cache.get('mine')).toBeUndefined();
    expect(cache.get('theirs')).toBeDefined();
    cache.clear();
    expect(cache.get('theirs')).toBeUndefined();
  });

  it('does not keep what a lookup read while an invalidation happened', async () => {
    const cache = new PrincipalCache();
    let answer!: (p: ApiKeyPrincipal) => void;
    const reading = cache.read('key', () => new Promise((resolve) => (answer = resolve)));
    cache.forget('other-organisation');
    answer(principal('o'));
    await expect(reading).resolves.toMatchObject({ organizationId: 'o' });
    expect(cache.get('key')).toBeUndefined();
  });
});
