import { Client } from 'pg';
import { makeApiKey, makeMember, PASSWORD, type SignedUp, signUp, uniqueEmail } from './helpers/factories';
import type { HttpClient } from './helpers/http-client';
import { startTestApp, type TestApp } from './helpers/test-app';

interface AuditItem {
  id: string;
  organizationId: string | null;
  actorType: string;
  actorId: string | null;
  actorLabel: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, unknown>;
  createdAt: string;
}

describe('audit log', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '100000' });
  });
  afterAll(() => app.close());

  async function page(client: HttpClient, query = ''): Promise<{ items: AuditItem[]; nextBefore: string | null }> {
    const res = await client.get(`/api/v1/audit-events${query}`);
    expect(res.status).toBe(200);
    return res.body;
  }

  async function everything(client: HttpClient): Promise<AuditItem[]> {
    const { items, nextBefore } = await page(client, '?limit=200');
    expect(nextBefore).toBeNull();
    return items;
  }

  /** Follows nextBefore from the newest event until the log says there is no more. */
  async function walk(client: HttpClient, limit: number, action?: string): Promise<{ pages: AuditItem[][]; cursors: (string | null)[] }> {
    const pages: AuditItem[][] = [];
    const cursors: (string | null)[] = [];
    let before: string | null = null;
    do {
      const query = new URLSearchParams({ limit: String(limit), ...(before ? { before } : {}), ...(action ? { action } : {}) });
      const res = await page(client, `?${query}`);
      pages.push(res.items);
      cursors.push(res.nextBefore);
      before = res.nextBefore;
      if (pages.length > 50) throw new Error('paging does not end');
    } while (before);
    return { pages, cursors };
  }

  async function withDb<T>(fn: (db: Client) => Promise<T>): Promise<T> {
    const db = new Client({ connectionString: app.databaseUrl });
    await db.connect();
    try {
      return await fn(db);
    } finally {
      await db.end();
    }
  }

  it('records every member, key and session action with its actor, target, ip and time', async () => {
    const started = Date.now();
    const owner = await signUp(app, 'Audited Org');
    expect((await owner.client.post('/api/v1/auth/logout')).status).toBe(204);
    expect((await owner.client.post('/api/v1/auth/login', { email: owner.email, password: PASSWORD })).status).toBe(200);
    expect((await app.client().post('/api/v1/auth/login', { email: owner.email, password: 'not the password' })).status).toBe(401);

    const bot = await owner.client.post('/api/v1/api-keys', { name: 'audit bot', role: 'admin' });
    expect(bot.status).toBe(201);
    const spare = await owner.client.post('/api/v1/api-keys', { name: 'spare', role: 'viewer' });
    const botClient = app.client().withBearer(bot.body.key);
    expect((await botClient.delete(`/api/v1/api-keys/${spare.body.id}`)).status).toBe(204);

    const joinerEmail = uniqueEmail('joiner');
    const invitation = await owner.client.post('/api/v1/members', { email: joinerEmail, role: 'operator' });
    const joiner = await app.client().post('/api/v1/invitations/accept', { token: invitation.body.invitation.token, password: PASSWORD });
    expect(joiner.status).toBe(200);
    const joinerMembership = (await owner.client.get('/api/v1/members')).body.find((m: { email: string }) => m.email === joinerEmail);

    const outsider = await signUp(app, 'Outsider Org');
    const added = await botClient.post('/api/v1/members', { email: outsider.email, role: 'viewer' });
    expect(added.status).toBe(201);
    expect((await app.client().post('/api/v1/invitations/accept', { token: added.body.invitation.token, password: PASSWORD })).status).toBe(200);
    const outsiderMembership = (await owner.client.get('/api/v1/members')).body.find((m: { email: string }) => m.email === outsider.email);
    expect((await owner.client.patch(`/api/v1/members/${joinerMembership.id}`, { role: 'admin' })).status).toBe(200);
    expect((await owner.client.delete(`/api/v1/members/${outsiderMembership.id}`)).status).toBe(204);
    const dropped = await owner.client.post('/api/v1/members', { email: uniqueEmail('dropped'), role: 'viewer' });
    expect((await owner.client.delete(`/api/v1/invitations/${dropped.body.invitation.id}`)).status).toBe(204);

    const items = await everything(owner.client);
    const finished = Date.now();
    const user = { actorType: 'user', actorId: owner.userId, actorLabel: owner.email };
    const viaBot = { actorType: 'api_key', actorId: bot.body.id, actorLabel: `audit bot (API key of ${owner.email})` };
    expect([...items].reverse()).toEqual(
      [
        { ...user, action: 'auth.signup', targetType: 'organization', targetId: owner.organizationId, details: { organization: 'Audited Org' } },
        { ...user, action: 'auth.logout', targetType: null, targetId: null },
        { ...user, action: 'auth.login', targetType: null, targetId: null },
        { ...user, action: 'auth.login_failed', details: { reason: 'wrong password' } },
        { ...user, action: 'api_key.created', targetType: 'api_key', targetId: bot.body.id, details: { name: 'audit bot', role: 'admin' } },
        { ...user, action: 'api_key.created', targetType: 'api_key', targetId: spare.body.id, details: { name: 'spare', role: 'viewer' } },
        { ...viaBot, action: 'api_key.revoked', targetType: 'api_key', targetId: spare.body.id, details: { name: 'spare', onBehalfOf: owner.userId } },
        { ...user, action: 'member.invited', targetType: 'invitation', targetId: invitation.body.invitation.id, details: { email: joinerEmail, role: 'operator' } },
        { actorType: 'user', actorId: joiner.body.user.id, actorLabel: joinerEmail, action: 'member.joined', details: { role: 'operator' } },
        { ...viaBot, action: 'member.invited', targetType: 'invitation', targetId: added.body.invitation.id, details: { email: outsider.email, role: 'viewer', onBehalfOf: owner.userId } },
        { actorType: 'user', actorId: outsider.userId, actorLabel: outsider.email, action: 'member.joined', details: { role: 'viewer' } },
        {
          ...user,
          action: 'member.role_changed',
          targetType: 'membership',
          targetId: joinerMembership.id,
          details: { email: joinerEmail, from: 'operator', to: 'admin', credentialsRevoked: false },
        },
        { ...user, action: 'member.removed', targetType: 'membership', targetId: outsiderMembership.id, details: { email: outsider.email, role: 'viewer' } },
        { ...user, action: 'member.invited', targetType: 'invitation', targetId: dropped.body.invitation.id },
        { ...user, action: 'member.invitation_revoked', targetType: 'invitation', targetId: dropped.body.invitation.id },
      ].map((e) => expect.objectContaining({ ...e, organizationId: owner.organizationId })),
    );
    for (const e of items) {
      expect(e.id).toMatch(/^\d+$/);
      expect(e.ip).toBe('127.0.0.1');
      const at = new Date(e.createdAt).getTime();
      expect(at).toBeGreaterThanOrEqual(started - 5_000);
      expect(at).toBeLessThanOrEqual(finished + 5_000);
    }
    const times = [...items].reverse().map((e) => new Date(e.createdAt).getTime());
    expect(times).toEqual([...times].sort((x, y) => x - y));
    // Neither the password, nor a key, nor an invitation token ever lands in the log.
    const text = JSON.stringify(items);
    for (const secret of [PASSWORD, 'not the password', bot.body.key, spare.body.key, invitation.body.invitation.token, added.body.invitation.token]) expect(text).not.toContain(secret);
    // The outsider's own organisation logs its signup, and none of this.
    expect((await everything(outsider.client)).map((e) => e.action)).toEqual(['auth.signup']);
  });

  it("logs a failed login for a known email in that account's organisation, and an unknown email in none", async () => {
    const owner = await signUp(app);
    const bystander = await signUp(app);
    const unknown = uniqueEmail('nobody');
    for (const email of [owner.email.toUpperCase(), unknown]) {
      expect((await app.client().post('/api/v1/auth/login', { email, password: 'guessing-at-random' })).status).toBe(401);
    }
    const failed = await page(owner.client, '?action=auth.login_failed');
    expect(failed.items).toEqual([
      expect.objectContaining({
        organizationId: owner.organizationId,
        actorType: 'user',
        actorId: owner.userId,
        actorLabel: owner.email,
        ip: '127.0.0.1',
        details: { reason: 'wrong password' },
      }),
    ]);
    for (const client of [owner.client, bystander.client]) expect(JSON.stringify(await everything(client))).not.toContain(unknown);
    expect(JSON.stringify(failed)).not.toContain('guessing-at-random');
    // The unknown email is still on record, outside every organisation.
    const rows = await withDb((db) => db.query(`SELECT organization_id, actor_type, details FROM audit_events WHERE actor_label = $1`, [unknown]));
    expect(rows.rows).toEqual([{ organization_id: null, actor_type: 'anonymous', details: { reason: 'unknown email' } }]);
  });

  describe('paging and filtering', () => {
    let owner: SignedUp;
    let all: AuditItem[];
    let neighbourIds: string[];

    beforeAll(async () => {
      owner = await signUp(app);
      const neighbour = await signUp(app);
      // Another organisation writes in between, so its ids fall inside this one's range.
      for (let i = 0; i < 11; i++) {
        await makeApiKey(app, owner);
        if (i % 3 === 0) await makeApiKey(app, neighbour);
      }
      all = await everything(owner.client);
      neighbourIds = (await everything(neighbour.client)).map((e) => e.id);
      expect(all.map((e) => e.action)).toEqual([...Array(11).fill('api_key.created'), 'auth.signup']);
    });

    it('returns newest first with strictly decreasing ids', () => {
      const ids = all.map((e) => BigInt(e.id));
      for (let i = 1; i < ids.length; i++) expect(ids[i] < ids[i - 1]).toBe(true);
    });

    it.each([5, 4, 1])('walks the whole log with limit=%i and before, without overlap or gaps', async (limit) => {
      const { pages, cursors } = await walk(owner.client, limit);
      for (const p of pages) expect(p.length).toBeLessThanOrEqual(limit);
      // Every full page points at its own oldest event; the last one says there is no more.
      pages.forEach((p, i) => expect(cursors[i]).toBe(p.length === limit ? p[p.length - 1].id : null));
      const walked = pages.flat().map((e) => e.id);
      expect(new Set(walked).size).toBe(walked.length);
      expect(walked).toEqual(all.map((e) => e.id));
      expect(pages.map((p) => p.length)).toEqual(limit === 5 ? [5, 5, 2] : limit === 4 ? [4, 4, 4, 0] : [...Array(12).fill(1), 0]);
    });

    it('starts strictly below any id given as before, even one of another organisation', async () => {
      const pivot = all[4];
      const res = await page(owner.client, `?before=${pivot.id}&limit=3`);
      expect(res.items.map((e) => e.id)).toEqual(all.slice(5, 8).map((e) => e.id));
      expect(res.nextBefore).toBe(all[7].id);

      const foreign = BigInt(neighbourIds[1]);
      expect(foreign < BigInt(all[0].id) && foreign > BigInt(all[11].id)).toBe(true);
      const below = await page(owner.client, `?before=${foreign}&limit=2`);
      expect(below.items.map((e) => e.id)).toEqual(
        all
          .filter((e) => BigInt(e.id) < foreign)
          .slice(0, 2)
          .map((e) => e.id),
      );
    });

    it('filters by action, and pages within the filter', async () => {
      const created = await page(owner.client, '?action=api_key.created');
      expect(created.items.map((e) => e.id)).toEqual(all.slice(0, 11).map((e) => e.id));
      expect(created.nextBefore).toBeNull();

      const { pages, cursors } = await walk(owner.client, 4, 'api_key.created');
      expect(pages.map((p) => p.length)).toEqual([4, 4, 3]);
      expect(cursors).toEqual([pages[0][3].id, pages[1][3].id, null]);
      expect(pages.flat().map((e) => e.id)).toEqual(all.slice(0, 11).map((e) => e.id));

      const signup = await page(owner.client, '?action=auth.signup');
      expect(signup.items.map((e) => e.id)).toEqual([all[11].id]);
      expect(await page(owner.client, '?action=member.removed')).toEqual({ items: [], nextBefore: null });
    });

    it('rejects a bad limit, cursor or action by name', async () => {
      for (const [query, field] of [
        ['limit=0', 'limit'],
        ['limit=201', 'limit'],
        ['limit=ten', 'limit'],
        ['before=abc', 'before'],
        ['before=-1', 'before'],
        ['action=DROP%20TABLE', 'action'],
      ]) {
        const res = await owner.client.get(`/api/v1/audit-events?${query}`);
        expect(res.status).toBe(422);
        expect(res.body.error.code).toBe('VALIDATION_FAILED');
        expect(res.body.error.details.map((d: { field: string }) => d.field)).toEqual([field]);
      }
    });
  });

  it('is readable by admins only', async () => {
    const owner = await signUp(app);
    const admin = await makeMember(app, owner, 'admin');
    const operator = await makeMember(app, owner, 'operator');
    const viewer = await makeMember(app, owner, 'viewer');
    const ownersLog = await everything(owner.client);
    expect(await everything(admin.client)).toEqual(ownersLog);
    for (const client of [operator.client, viewer.client, (await makeApiKey(app, owner, 'operator')).client]) {
      const res = await client.get('/api/v1/audit-events');
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
      expect(res.text).not.toContain('auth.signup');
    }
  });

  it('is append-only in the database itself: UPDATE, DELETE and TRUNCATE fail', async () => {
    const owner = await signUp(app);
    await makeApiKey(app, owner);
    const before = await everything(owner.client);
    expect(before).toHaveLength(2);

    await withDb(async (db) => {
      await expect(db.query(`UPDATE audit_events SET action = 'tampered', actor_label = 'nobody' WHERE organization_id = $1`, [owner.organizationId])).rejects.toThrow(
        /audit_events is append-only: UPDATE is not allowed/,
      );
      await expect(db.query(`DELETE FROM audit_events WHERE organization_id = $1`, [owner.organizationId])).rejects.toThrow(/audit_events is append-only: DELETE is not allowed/);
      await expect(db.query(`DELETE FROM audit_events`)).rejects.toThrow(/append-only/);
      await expect(db.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
      // Not even inside a transaction that would otherwise commit.
      await db.query('BEGIN');
      await expect(db.query(`DELETE FROM audit_events WHERE id = $1`, [before[0].id])).rejects.toThrow(/append-only/);
      await db.query('ROLLBACK');
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE organization_id = $1 AND action <> 'tampered'`, [owner.organizationId]);
      expect(rows[0].n).toBe(2);
    });

    expect(await everything(owner.client)).toEqual(before);
    // Appending still works.
    await makeApiKey(app, owner);
    const after = await everything(owner.client);
    expect(after).toHaveLength(3);
    expect(after.slice(1)).toEqual(before);
  });
});
