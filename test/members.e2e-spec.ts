import { Client } from 'pg';
import { makeApiKey, makeMember, PASSWORD, type SignedUp, signUp, uniqueEmail } from './helpers/factories';
import type { HttpClient } from './helpers/http-client';
import { startTestApp, type TestApp } from './helpers/test-app';

const MISSING_ID = '00000000-0000-4000-8000-000000000000';

interface MemberView {
  id: string;
  userId: string;
  email: string;
  role: string;
}

describe('organisation members and invitations', () => {
  let app: TestApp;
  beforeAll(async () => {
    // Many signups, logins and acceptances come from one address here.
    app = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '100000' });
  });
  afterAll(() => app.close());

  async function members(client: HttpClient): Promise<MemberView[]> {
    const res = await client.get('/api/v1/members');
    expect(res.status).toBe(200);
    return res.body;
  }

  async function memberByEmail(client: HttpClient, email: string): Promise<MemberView | undefined> {
    return (await members(client)).find((m) => m.email === email);
  }

  async function openInvitations(client: HttpClient): Promise<{ id: string; email: string; role: string }[]> {
    const res = await client.get('/api/v1/invitations');
    expect(res.status).toBe(200);
    return res.body;
  }

  async function invite(owner: SignedUp, email: string, role: string): Promise<{ id: string; token: string }> {
    const res = await owner.client.post('/api/v1/members', { email, role });
    expect(res.status).toBe(201);
    expect(res.body.invitation).toBeDefined();
    return { id: res.body.invitation.id, token: res.body.invitation.token };
  }

  async function login(email: string, password = PASSWORD): Promise<HttpClient> {
    const client = app.client();
    const res = await client.post('/api/v1/auth/login', { email, password });
    expect(res.status).toBe(200);
    return client;
  }

  describe('invitations', () => {
    it('invites a new email; accepting creates the account, joins with the role and can log in again', async () => {
      const owner = await signUp(app, 'Invite Co');
      const email = uniqueEmail('invitee');
      const before = Date.now();
      const res = await owner.client.post('/api/v1/members', { email: `  ${email.toUpperCase()} `, role: 'operator' });
      expect(res.status).toBe(201);
      expect(res.body.member).toBeUndefined();
      const invitation = res.body.invitation;
      expect(invitation).toMatchObject({ email, role: 'operator', invitedBy: owner.userId });
      expect(invitation.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(invitation.token).toMatch(/^crl_inv_[0-9A-Za-z]{40}$/);
      const ttl = new Date(invitation.expiresAt).getTime() - before;
      expect(ttl).toBeGreaterThan(7 * 24 * 3600_000 - 60_000);
      expect(ttl).toBeLessThan(7 * 24 * 3600_000 + 60_000);

      // The token is shown once: the list names the invitation but never carries its token.
      const listed = await owner.client.get('/api/v1/invitations');
      expect(listed.body).toEqual([expect.objectContaining({ id: invitation.id, email, role: 'operator' })]);
      expect(listed.text).not.toContain(invitation.token);
      expect(await memberByEmail(owner.client, email)).toBeUndefined();

      const invitee = app.client();
      const accepted = await invitee.post('/api/v1/invitations/accept', { token: invitation.token, password: PASSWORD });
      expect(accepted.status).toBe(200);
      expect(accepted.body).toMatchObject({
        user: { email },
        organization: { id: owner.organizationId, name: 'Invite Co' },
        role: 'operator',
        authenticatedBy: { type: 'session' },
      });
      const me = await invitee.get('/api/v1/me');
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ user: { id: accepted.body.user.id, email }, organization: { id: owner.organizationId }, role: 'operator' });

      // A fresh login with the password chosen on acceptance lands in the same organisation.
      const again = await login(email.toUpperCase());
      const meAgain = await again.get('/api/v1/me');
      expect(meAgain.body).toMatchObject({ user: { id: accepted.body.user.id, email }, organization: { id: owner.organizationId, name: 'Invite Co' }, role: 'operator' });

      expect(await memberByEmail(owner.client, email)).toMatchObject({ userId: accepted.body.user.id, role: 'operator' });
      expect(await openInvitations(owner.client)).toEqual([]);
    });

    it('invites an existing account exactly as a new email: it is no member until it accepts, and its login still lands in its first organisation', async () => {
      const a = await signUp(app, 'Adder A');
      const b = await signUp(app, 'Other B');
      const toAccount = await a.client.post('/api/v1/members', { email: b.email, role: 'viewer' });
      const toNobody = await a.client.post('/api/v1/members', { email: uniqueEmail('nobody'), role: 'viewer' });
      // The same answer either way: an admin learns nothing about which emails have accounts.
      for (const res of [toAccount, toNobody]) {
        expect(res.status).toBe(201);
        expect(Object.keys(res.body)).toEqual(['invitation']);
        expect(Object.keys(res.body.invitation).sort()).toEqual(['createdAt', 'email', 'expiresAt', 'id', 'invitedBy', 'role', 'token']);
      }
      expect(await memberByEmail(a.client, b.email)).toBeUndefined();
      expect((await login(b.email).then((c) => c.get('/api/v1/me'))).body).toMatchObject({ organization: { id: b.organizationId }, role: 'owner' });

      const accepted = await app.client().post('/api/v1/invitations/accept', { token: toAccount.body.invitation.token, password: PASSWORD });
      expect(accepted.status).toBe(200);
      expect(await memberByEmail(a.client, b.email)).toMatchObject({ userId: b.userId, role: 'viewer' });
      // B's own organisation is untouched.
      expect((await members(b.client)).map((m) => m.email)).toEqual([b.email]);
      const bAgain = await login(b.email);
      expect((await bAgain.get('/api/v1/me')).body).toMatchObject({ organization: { id: b.organizationId, name: 'Other B' }, role: 'owner' });
    });

    it('answers inviting a member with 409 ALREADY_MEMBER and changes nothing', async () => {
      const a = await signUp(app);
      const b = await signUp(app);
      const invitation = await invite(a, b.email, 'viewer');
      expect((await app.client().post('/api/v1/invitations/accept', { token: invitation.token, password: PASSWORD })).status).toBe(200);
      for (const [email, role] of [
        [b.email.toUpperCase(), 'admin'],
        [a.email, 'viewer'],
      ]) {
        const dup = await a.client.post('/api/v1/members', { email, role });
        expect(dup.status).toBe(409);
        expect(dup.body.error.code).toBe('ALREADY_MEMBER');
        expect(dup.body.error.message).toContain(email.toLowerCase());
      }
      const list = await members(a.client);
      expect(list.map((m) => [m.email, m.role]).sort()).toEqual(
        [
          [a.email, 'owner'],
          [b.email, 'viewer'],
        ].sort(),
      );
      expect(await openInvitations(a.client)).toEqual([]);
    });

    it('refuses a second open invitation for the same email with 409 until the first is revoked', async () => {
      const owner = await signUp(app);
      const email = uniqueEmail('twice');
      const first = await invite(owner, email, 'viewer');
      const dup = await owner.client.post('/api/v1/members', { email: email.toUpperCase(), role: 'admin' });
      expect(dup.status).toBe(409);
      expect(dup.body.error.code).toBe('ALREADY_INVITED');
      expect(await openInvitations(owner.client)).toEqual([expect.objectContaining({ id: first.id, email, role: 'viewer' })]);

      expect((await owner.client.delete(`/api/v1/invitations/${first.id}`)).status).toBe(204);
      expect(await openInvitations(owner.client)).toEqual([]);
      const second = await invite(owner, email, 'admin');
      expect(second.id).not.toBe(first.id);
      expect(second.token).not.toBe(first.token);
      expect(await openInvitations(owner.client)).toEqual([expect.objectContaining({ id: second.id, email, role: 'admin' })]);
    });

    it('rejects a used, revoked, expired or unknown token with 400 INVITATION_INVALID and creates nothing', async () => {
      const owner = await signUp(app);
      const invalid = async (token: string, password = PASSWORD) => {
        const res = await app.client().post('/api/v1/invitations/accept', { token, password });
        expect(res.status).toBe(400);
        expect(res.body.error).toEqual({ code: 'INVITATION_INVALID', message: expect.stringMatching(/unknown, expired, revoked or already used/) });
        expect(res.headers.getSetCookie().some((c) => c.startsWith('corral_session='))).toBe(false);
      };

      const usedEmail = uniqueEmail('used');
      const used = await invite(owner, usedEmail, 'viewer');
      expect((await app.client().post('/api/v1/invitations/accept', { token: used.token, password: PASSWORD })).status).toBe(200);
      await invalid(used.token);
      await invalid(used.token, 'another password entirely');

      const revokedEmail = uniqueEmail('revoked');
      const revoked = await invite(owner, revokedEmail, 'admin');
      expect((await owner.client.delete(`/api/v1/invitations/${revoked.id}`)).status).toBe(204);
      await invalid(revoked.token);
      // Revoking twice: the invitation is no longer open.
      const twice = await owner.client.delete(`/api/v1/invitations/${revoked.id}`);
      expect(twice.status).toBe(404);
      expect(twice.body.error.code).toBe('NOT_FOUND');

      const expiredEmail = uniqueEmail('expired');
      const expired = await invite(owner, expiredEmail, 'viewer');
      const db = new Client({ connectionString: app.databaseUrl });
      await db.connect();
      try {
        await db.query(`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
      } finally {
        await db.end();
      }
      await invalid(expired.token);

      await invalid(`crl_inv_${'a'.repeat(40)}`);

      const garbage = await app.client().post('/api/v1/invitations/accept', { token: 'not-a-token', password: PASSWORD });
      expect(garbage.status).toBe(422);
      expect(garbage.body.error.code).toBe('VALIDATION_FAILED');
      expect(garbage.body.error.details).toEqual([{ field: 'token', problems: [expect.stringContaining('crl_inv_')] }]);

      // None of the refused tokens made an account or a membership.
      for (const email of [revokedEmail, expiredEmail]) {
        expect((await app.client().post('/api/v1/auth/login', { email, password: PASSWORD })).status).toBe(401);
      }
      expect((await members(owner.client)).map((m) => m.email).sort()).toEqual([owner.email, usedEmail].sort());
    });

    it('lets an existing account accept only with its own password; a wrong one is 401 and leaves the invitation open', async () => {
      const inviter = await signUp(app, 'Inviting Org');
      const email = uniqueEmail('late');
      const invitation = await invite(inviter, email, 'admin');
      // The invitee signs up on their own before accepting.
      const own = await signUp(app, 'Own Org', email);

      const wrong = app.client();
      const refused = await wrong.post('/api/v1/invitations/accept', { token: invitation.token, password: 'not the right password' });
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('INVALID_CREDENTIALS');
      expect(wrong.cookie('corral_session')).toBeUndefined();
      expect(await memberByEmail(inviter.client, email)).toBeUndefined();
      expect(await openInvitations(inviter.client)).toEqual([expect.objectContaining({ id: invitation.id, email })]);

      const right = app.client();
      const accepted = await right.post('/api/v1/invitations/accept', { token: invitation.token, password: PASSWORD });
      expect(accepted.status).toBe(200);
      expect(accepted.body).toMatchObject({ user: { id: own.userId, email }, organization: { id: inviter.organizationId }, role: 'admin' });
      expect((await right.get('/api/v1/me')).body).toMatchObject({ organization: { id: inviter.organizationId }, role: 'admin' });
      expect(await memberByEmail(inviter.client, email)).toMatchObject({ userId: own.userId, role: 'admin' });
      expect(await openInvitations(inviter.client)).toEqual([]);
    });
  });

  describe('roles', () => {
    it("changes a role, which takes effect on the member's live session at once", async () => {
      const owner = await signUp(app);
      const member = await makeMember(app, owner, 'viewer');
      expect((await member.client.get('/api/v1/invitations')).status).toBe(403);

      const res = await owner.client.patch(`/api/v1/members/${member.membershipId}`, { role: 'admin' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: member.membershipId, userId: member.userId, email: member.email, role: 'admin' });
      expect((await member.client.get('/api/v1/me')).body.role).toBe('admin');
      expect((await member.client.get('/api/v1/invitations')).status).toBe(200);
      expect(await memberByEmail(owner.client, member.email)).toMatchObject({ role: 'admin' });

      // Lowering ends the sessions held with the higher role: the member logs in again as operator.
      const down = await owner.client.patch(`/api/v1/members/${member.membershipId}`, { role: 'operator' });
      expect(down.status).toBe(200);
      expect((await member.client.get('/api/v1/me')).status).toBe(401);
      const again = await login(member.email);
      expect((await again.get('/api/v1/me')).body.role).toBe('operator');
      expect((await again.get('/api/v1/invitations')).status).toBe(403);
    });

    it('validates the role and the member id', async () => {
      const owner = await signUp(app);
      const member = await makeMember(app, owner, 'viewer');
      const badRole = await owner.client.patch(`/api/v1/members/${member.membershipId}`, { role: 'superuser' });
      expect(badRole.status).toBe(422);
      expect(badRole.body.error.details).toEqual([{ field: 'role', problems: ['role must be one of viewer, operator, admin, owner'] }]);
      const badInvite = await owner.client.post('/api/v1/members', { email: 'not an email', role: 'root' });
      expect(badInvite.status).toBe(422);
      expect(badInvite.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['email', 'role']);
      expect((await owner.client.patch('/api/v1/members/not-a-uuid', { role: 'viewer' })).status).toBe(400);
      const missing = await owner.client.patch(`/api/v1/members/${MISSING_ID}`, { role: 'viewer' });
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
      expect((await owner.client.delete(`/api/v1/members/${MISSING_ID}`)).status).toBe(404);
      expect((await owner.client.delete(`/api/v1/invitations/${MISSING_ID}`)).status).toBe(404);
      expect(await memberByEmail(owner.client, member.email)).toMatchObject({ role: 'viewer' });
    });

    it('lets an admin grant up to admin but never owner, and never touch an owner', async () => {
      const owner = await signUp(app);
      const admin = await makeMember(app, owner, 'admin');
      const other = await makeMember(app, owner, 'viewer');
      const ownerMembership = (await memberByEmail(owner.client, owner.email))!;

      const tooHigh = [
        await admin.client.patch(`/api/v1/members/${other.membershipId}`, { role: 'owner' }),
        await admin.client.post('/api/v1/members', { email: uniqueEmail('wannabe'), role: 'owner' }),
        await admin.client.patch(`/api/v1/members/${ownerMembership.id}`, { role: 'viewer' }),
        await admin.client.patch(`/api/v1/members/${ownerMembership.id}`, { role: 'admin' }),
        await admin.client.delete(`/api/v1/members/${ownerMembership.id}`),
      ];
      for (const res of tooHigh) {
        expect(res.status).toBe(403);
        expect(res.body.error.code).toBe('ROLE_TOO_HIGH');
      }
      expect(tooHigh[2].body.error.message).toContain(owner.email);
      expect(await memberByEmail(owner.client, owner.email)).toMatchObject({ role: 'owner' });
      expect(await memberByEmail(owner.client, other.email)).toMatchObject({ role: 'viewer' });
      expect(await openInvitations(owner.client)).toEqual([]);

      // Up to its own role is fine, for members and invitations alike.
      const promoted = await admin.client.patch(`/api/v1/members/${other.membershipId}`, { role: 'admin' });
      expect(promoted.status).toBe(200);
      expect(promoted.body.role).toBe('admin');
      const invited = await admin.client.post('/api/v1/members', { email: uniqueEmail('by-admin'), role: 'admin' });
      expect(invited.status).toBe(201);
      expect(invited.body.invitation).toMatchObject({ role: 'admin', invitedBy: admin.userId });
    });

    it('never demotes or removes the last owner, but does once there is a second owner', async () => {
      const first = await signUp(app);
      const firstMembership = (await memberByEmail(first.client, first.email))!;
      for (const res of [await first.client.patch(`/api/v1/members/${firstMembership.id}`, { role: 'admin' }), await first.client.delete(`/api/v1/members/${firstMembership.id}`)]) {
        expect(res.status).toBe(409);
        expect(res.body.error.code).toBe('LAST_OWNER');
        expect(res.body.error.message).toMatch(/last owner/);
      }
      expect((await first.client.get('/api/v1/me')).body.role).toBe('owner');

      const second = await makeMember(app, first, 'admin');
      expect((await first.client.patch(`/api/v1/members/${second.membershipId}`, { role: 'owner' })).status).toBe(200);
      expect((await second.client.get('/api/v1/me')).body.role).toBe('owner');

      // With two owners, one may step down…
      const stepDown = await first.client.patch(`/api/v1/members/${firstMembership.id}`, { role: 'admin' });
      expect(stepDown.status).toBe(200);
      expect((await first.client.get('/api/v1/me')).status).toBe(401);
      expect((await (await login(first.email)).get('/api/v1/me')).body.role).toBe('admin');
      // …which makes the other the last owner again.
      const lastAgain = await second.client.patch(`/api/v1/members/${second.membershipId}`, { role: 'viewer' });
      expect(lastAgain.status).toBe(409);
      expect(lastAgain.body.error.code).toBe('LAST_OWNER');

      // With two owners, one may remove the other.
      expect((await second.client.patch(`/api/v1/members/${firstMembership.id}`, { role: 'owner' })).status).toBe(200);
      expect((await second.client.delete(`/api/v1/members/${firstMembership.id}`)).status).toBe(204);
      expect((await members(second.client)).map((m) => [m.email, m.role])).toEqual([[second.email, 'owner']]);
      const lastDelete = await second.client.delete(`/api/v1/members/${second.membershipId}`);
      expect(lastDelete.status).toBe(409);
      expect(lastDelete.body.error.code).toBe('LAST_OWNER');
    });
  });

  describe('removal', () => {
    it("ends a removed member's session and API keys at once", async () => {
      const owner = await signUp(app);
      const member = await makeMember(app, owner, 'operator');
      const key = await makeApiKey(app, member);
      expect((await member.client.get('/api/v1/me')).status).toBe(200);
      expect((await key.client.get('/api/v1/me')).status).toBe(200);

      expect((await owner.client.delete(`/api/v1/members/${member.membershipId}`)).status).toBe(204);
      expect(await memberByEmail(owner.client, member.email)).toBeUndefined();

      const session = await member.client.get('/api/v1/me');
      expect(session.status).toBe(401);
      expect(session.body.error.code).toBe('UNAUTHENTICATED');
      const apiKey = await key.client.get('/api/v1/members');
      expect(apiKey.status).toBe(401);
      expect(apiKey.body.error.code).toBe('INVALID_API_KEY');
      // Nowhere left to log in to.
      expect((await app.client().post('/api/v1/auth/login', { email: member.email, password: PASSWORD })).status).toBe(401);

      const again = await owner.client.delete(`/api/v1/members/${member.membershipId}`);
      expect(again.status).toBe(404);
      // The owner's own access is unaffected.
      expect((await owner.client.get('/api/v1/me')).status).toBe(200);

      // Coming back restores nothing: the old key stays revoked and the old session ended.
      const back = await invite(owner, member.email, 'operator');
      expect((await app.client().post('/api/v1/invitations/accept', { token: back.token, password: PASSWORD })).status).toBe(200);
      expect(await memberByEmail(owner.client, member.email)).toBeDefined();
      expect((await key.client.get('/api/v1/members')).status).toBe(401);
      expect((await member.client.get('/api/v1/me')).status).toBe(401);
    });
  });

  describe('least role of every route', () => {
    let owner: SignedUp;
    let viewer: SignedUp & { membershipId: string };
    let operator: SignedUp & { membershipId: string };
    let admin: SignedUp & { membershipId: string };
    let invitationId: string;

    beforeAll(async () => {
      owner = await signUp(app);
      viewer = await makeMember(app, owner, 'viewer');
      operator = await makeMember(app, owner, 'operator');
      admin = await makeMember(app, owner, 'admin');
      invitationId = (await invite(owner, uniqueEmail('pending'), 'viewer')).id;
    });

    async function expectForbidden(res: Promise<{ status: number; body: any }>, needed: string) {
      const r = await res;
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
      expect(r.body.error.message).toContain(`needs the ${needed} role`);
    }

    async function expectUnchanged() {
      const list = await members(owner.client);
      expect(list.map((m) => [m.email, m.role]).sort()).toEqual(
        [
          [owner.email, 'owner'],
          [viewer.email, 'viewer'],
          [operator.email, 'operator'],
          [admin.email, 'admin'],
        ].sort(),
      );
      expect((await openInvitations(owner.client)).map((i) => i.id)).toEqual([invitationId]);
    }

    it('lets a viewer and an operator list members but nothing more', async () => {
      for (const m of [viewer, operator]) {
        const list = await members(m.client);
        expect(list.map((x) => x.email).sort()).toEqual([owner.email, viewer.email, operator.email, admin.email].sort());
        await expectForbidden(m.client.post('/api/v1/members', { email: uniqueEmail('nope'), role: 'viewer' }), 'admin');
        await expectForbidden(m.client.patch(`/api/v1/members/${viewer.membershipId}`, { role: 'viewer' }), 'admin');
        await expectForbidden(m.client.delete(`/api/v1/members/${viewer.membershipId}`), 'admin');
        await expectForbidden(m.client.get('/api/v1/invitations'), 'admin');
        await expectForbidden(m.client.delete(`/api/v1/invitations/${invitationId}`), 'admin');
        await expectForbidden(m.client.get('/api/v1/audit-events'), 'admin');
      }
      await expectUnchanged();
    });

    it("holds for API keys too: a key acts with the lower of its role and its creator's", async () => {
      const ownerViewerKey = await makeApiKey(app, owner, 'viewer');
      expect((await ownerViewerKey.client.get('/api/v1/members')).status).toBe(200);
      await expectForbidden(ownerViewerKey.client.post('/api/v1/members', { email: uniqueEmail('nope'), role: 'viewer' }), 'admin');
      await expectForbidden(ownerViewerKey.client.get('/api/v1/invitations'), 'admin');

      const operatorKey = await makeApiKey(app, operator);
      expect((await operatorKey.client.get('/api/v1/me')).body.role).toBe('operator');
      await expectForbidden(operatorKey.client.get('/api/v1/invitations'), 'admin');
      await expectUnchanged();
    });

    it('lets an admin reach every member route', async () => {
      expect((await admin.client.get('/api/v1/invitations')).body.map((i: { id: string }) => i.id)).toEqual([invitationId]);
      const events = await admin.client.get('/api/v1/audit-events');
      expect(events.status).toBe(200);
      expect(events.body.items.length).toBeGreaterThan(0);
      const adminKey = await makeApiKey(app, admin);
      expect((await adminKey.client.get('/api/v1/audit-events')).status).toBe(200);
    });

    it('needs authentication for every member route', async () => {
      const anon = app.client();
      for (const res of [
        await anon.get('/api/v1/members'),
        await anon.post('/api/v1/members', { email: uniqueEmail(), role: 'viewer' }),
        await anon.patch(`/api/v1/members/${viewer.membershipId}`, { role: 'owner' }),
        await anon.delete(`/api/v1/members/${viewer.membershipId}`),
        await anon.get('/api/v1/invitations'),
        await anon.delete(`/api/v1/invitations/${invitationId}`),
      ]) {
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHENTICATED');
      }
      await expectUnchanged();
    });

    it("lets a non-admin revoke only its own API keys; an admin may revoke anyone's", async () => {
      const viewerKey = await makeApiKey(app, viewer);
      const ownerKey = await makeApiKey(app, owner);
      const refused = await viewer.client.delete(`/api/v1/api-keys/${ownerKey.id}`);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('FORBIDDEN');
      expect((await ownerKey.client.get('/api/v1/me')).status).toBe(200);

      expect((await viewer.client.delete(`/api/v1/api-keys/${viewerKey.id}`)).status).toBe(204);
      expect((await viewerKey.client.get('/api/v1/me')).status).toBe(401);

      const otherViewerKey = await makeApiKey(app, viewer);
      expect((await admin.client.delete(`/api/v1/api-keys/${otherViewerKey.id}`)).status).toBe(204);
      expect((await otherViewerKey.client.get('/api/v1/me')).status).toBe(401);
      const keys = (await owner.client.get('/api/v1/api-keys')).body as { id: string; revokedAt: string | null }[];
      expect(keys.find((k) => k.id === ownerKey.id)!.revokedAt).toBeNull();
      expect(keys.find((k) => k.id === viewerKey.id)!.revokedAt).not.toBeNull();
      expect(keys.find((k) => k.id === otherViewerKey.id)!.revokedAt).not.toBeNull();
    });
  });
});
