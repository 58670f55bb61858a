import { makeApiKey, makeMember, PASSWORD, type SignedUp, signUp, uniqueEmail } from './helpers/factories';
import type { HttpClient } from './helpers/http-client';
import { startTestApp, type TestApp } from './helpers/test-app';

interface Org {
  deploymentId: string;
  owner: SignedUp;
  ownerMembershipId: string;
  ownerKey: { key: string; id: string; client: HttpClient };
  member: SignedUp & { membershipId: string };
  memberKey: { key: string; id: string; client: HttpClient };
  invitation: { id: string; email: string; token: string };
  environment: { id: string; name: string };
  lifecycle: { id: string; name: string };
  project: { id: string; name: string };
  releaseId: string;
  variableSetId: string;
}

/** What an organisation's owner sees of it, minus what merely using a key changes (lastUsedAt). */
interface OrgView {
  keys: { id: string; name: string; role: string; createdBy: string; revokedAt: string | null }[];
  members: { id: string; userId: string; email: string; role: string }[];
  invitations: { id: string; email: string; role: string }[];
  environments: { id: string; name: string; description: string; position: number }[];
  lifecycles: unknown[];
  projects: unknown[];
  variableSets: unknown[];
  auditIds: string[];
}

describe('isolation between organisations', () => {
  let app: TestApp;
  let a: Org;
  let b: Org;
  let aBefore: OrgView;

  /** An organisation with keys, members, an open invitation and a varied audit trail. */
  async function makeOrg(name: string): Promise<Org> {
    const owner = await signUp(app, name);
    const ownerKey = await makeApiKey(app, owner);
    const member = await makeMember(app, owner, 'viewer');
    expect((await owner.client.patch(`/api/v1/members/${member.membershipId}`, { role: 'operator' })).status).toBe(200);
    const memberKey = await makeApiKey(app, member);
    const email = uniqueEmail('invited');
    const invited = await owner.client.post('/api/v1/members', { email, role: 'viewer' });
    expect(invited.status).toBe(201);
    const revoked = await owner.client.post('/api/v1/members', { email: uniqueEmail('revoked'), role: 'viewer' });
    expect((await owner.client.delete(`/api/v1/invitations/${revoked.body.invitation.id}`)).status).toBe(204);
    expect((await app.client().post('/api/v1/auth/login', { email: owner.email, password: 'wrong password!' })).status).toBe(401);
    const ownerMembershipId = (await owner.client.get('/api/v1/members')).body.find((m: { email: string }) => m.email === owner.email).id;
    const environment = await owner.client.post('/api/v1/environments', { name: `Env-${name.replace(/\W/g, '')}-${Date.now()}` });
    expect(environment.status).toBe(201);
    const lifecycle = await owner.client.post('/api/v1/lifecycles', { name: `Lifecycle-${environment.body.name}`, phases: [{ name: 'Only', environments: [environment.body.id] }] });
    expect(lifecycle.status).toBe(201);
    const project = await owner.client.post('/api/v1/projects', { name: `Project-${environment.body.name}`, lifecycleId: lifecycle.body.id });
    expect(project.status).toBe(201);
    expect(
      (await owner.client.put(`/api/v1/projects/${project.body.id}/process`, { steps: [{ name: 'a', kind: 'script', script: { syntax: 'sh', body: 'true' }, targetRoles: ['web'] }] })).status,
    ).toBe(200);
    const variableSet = await owner.client.post('/api/v1/variable-sets', { name: `Set-${environment.body.name}` });
    expect(variableSet.status).toBe(201);
    expect((await owner.client.put(`/api/v1/variable-sets/${variableSet.body.id}/variables`, [{ name: 'Shared', value: 'x' }])).status).toBe(200);
    expect((await owner.client.patch(`/api/v1/projects/${project.body.id}`, { variableSetIds: [variableSet.body.id] })).status).toBe(200);
    expect((await owner.client.put(`/api/v1/projects/${project.body.id}/variables`, [{ name: 'Token', value: `token-of-${name}`, sensitive: true }])).status).toBe(200);
    const release = await owner.client.post(`/api/v1/projects/${project.body.id}/releases`, {});
    expect(release.status).toBe(201);
    // No agent has the step's role, so the step is skipped and the deployment ends at once.
    const deployment = await owner.client.post(`/api/v1/releases/${release.body.id}/deployments`, { environment: environment.body.id });
    expect([deployment.status, deployment.body.state]).toEqual([201, 'succeeded']);
    return {
      releaseId: release.body.id,
      variableSetId: variableSet.body.id,
      deploymentId: deployment.body.id,
      owner,
      ownerMembershipId,
      ownerKey,
      member,
      memberKey,
      invitation: { id: invited.body.invitation.id, email, token: invited.body.invitation.token },
      environment: { id: environment.body.id, name: environment.body.name },
      lifecycle: { id: lifecycle.body.id, name: lifecycle.body.name },
      project: { id: project.body.id, name: project.body.name },
    };
  }

  async function view(org: Org): Promise<OrgView> {
    const [keys, members, invitations, environments, lifecycles, projects, variableSets, audit] = await Promise.all([
      org.owner.client.get('/api/v1/api-keys'),
      org.owner.client.get('/api/v1/members'),
      org.owner.client.get('/api/v1/invitations'),
      org.owner.client.get('/api/v1/environments'),
      org.owner.client.get('/api/v1/lifecycles'),
      org.owner.client.get('/api/v1/projects'),
      org.owner.client.get(`/api/v1/variable-sets/${org.variableSetId}`),
      org.owner.client.get('/api/v1/audit-events?limit=200'),
    ]);
    for (const res of [keys, members, invitations, environments, lifecycles, projects, variableSets, audit]) expect(res.status).toBe(200);
    return {
      keys: keys.body.map(({ id, name, role, createdBy, revokedAt }: OrgView['keys'][number]) => ({ id, name, role, createdBy, revokedAt })),
      members: members.body.map(({ id, userId, email, role }: OrgView['members'][number]) => ({ id, userId, email, role })),
      invitations: invitations.body.map(({ id, email, role }: OrgView['invitations'][number]) => ({ id, email, role })),
      environments: environments.body.map(({ id, name, description, position }: OrgView['environments'][number]) => ({ id, name, description, position })),
      lifecycles: lifecycles.body,
      projects: projects.body,
      variableSets: variableSets.body,
      auditIds: audit.body.items.map((e: { id: string }) => e.id),
    };
  }

  /** Every identifier of `org` that must never show up in another organisation's answers. */
  function secretsOf(org: Org): string[] {
    return [
      org.owner.organizationId,
      org.owner.email,
      org.owner.userId,
      org.ownerMembershipId,
      org.ownerKey.id,
      org.variableSetId,
      org.member.email,
      org.member.userId,
      org.member.membershipId,
      org.memberKey.id,
      org.invitation.id,
      org.invitation.email,
      org.environment.id,
      org.environment.name,
      org.lifecycle.id,
      org.lifecycle.name,
      org.project.id,
      org.project.name,
      org.releaseId,
    ];
  }

  beforeAll(async () => {
    app = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '100000' });
    a = await makeOrg('Org A');
    b = await makeOrg('Org B');
    aBefore = await view(a);
    // The trail is varied enough for the checks below to mean something.
    expect(aBefore.auditIds.length).toBeGreaterThanOrEqual(9);
    expect(aBefore.keys).toHaveLength(2);
    expect(aBefore.members).toHaveLength(2);
    expect(aBefore.invitations).toHaveLength(1);
  });
  afterAll(() => app.close());

  describe.each([
    ['session cookie', () => b.owner.client],
    ["owner's API key", () => b.ownerKey.client],
  ])('B acting with its %s', (_how, bClient) => {
    it("lists only B's keys, members, invitations and audit events", async () => {
      const client = bClient();
      const keys = await client.get('/api/v1/api-keys');
      expect(keys.status).toBe(200);
      expect(keys.body.map((k: { id: string }) => k.id).sort()).toEqual([b.ownerKey.id, b.memberKey.id].sort());

      const members = await client.get('/api/v1/members');
      expect(members.status).toBe(200);
      expect(members.body.map((m: { email: string }) => m.email).sort()).toEqual([b.owner.email, b.member.email].sort());

      const invitations = await client.get('/api/v1/invitations');
      expect(invitations.status).toBe(200);
      expect(invitations.body.map((i: { id: string }) => i.id)).toEqual([b.invitation.id]);

      const environments = await client.get('/api/v1/environments');
      expect(environments.status).toBe(200);
      expect(environments.body.map((e: { id: string }) => e.id)).toEqual([b.environment.id]);
      const lifecycles = await client.get('/api/v1/lifecycles');
      expect(lifecycles.body.map((l: { name: string }) => l.name)).toEqual(['Default lifecycle', b.lifecycle.name]);
      const deployments = await client.get('/api/v1/deployments');
      expect(deployments.body.map((d: { id: string }) => d.id)).toEqual([b.deploymentId]);
      const dashboard = (await client.get('/api/v1/dashboard')).body;
      expect(dashboard.projects.map((p: { id: string }) => p.id)).toEqual([b.project.id]);
      expect(dashboard.environments.map((e: { id: string }) => e.id)).toEqual([b.environment.id]);
      const projects = await client.get('/api/v1/projects');
      expect(projects.body.map((p: { id: string }) => p.id)).toEqual([b.project.id]);
      const sets = await client.get('/api/v1/variable-sets');
      expect(sets.body.map((v: { id: string }) => v.id)).toEqual([b.variableSetId]);

      const audit = await client.get('/api/v1/audit-events?limit=200');
      expect(audit.status).toBe(200);
      expect(audit.body.items.length).toBeGreaterThanOrEqual(9);
      expect(new Set(audit.body.items.map((e: { organizationId: string }) => e.organizationId))).toEqual(new Set([b.owner.organizationId]));
      expect(audit.body.items.filter((e: { id: string }) => aBefore.auditIds.includes(e.id))).toEqual([]);
      // Filters and cursors cannot reach across either. A was set up before B, so a cursor
      // just above A's newest event points into A's history only, and finds nothing of it.
      const newestA = aBefore.auditIds.map(BigInt).reduce((x, y) => (x > y ? x : y));
      const intoA = await client.get(`/api/v1/audit-events?before=${newestA + 1n}`);
      expect(intoA.status).toBe(200);
      expect(intoA.body).toEqual({ items: [], nextBefore: null });
      const invited = await client.get('/api/v1/audit-events?action=member.invited');
      expect(invited.body.items).toHaveLength(3);
      for (const e of invited.body.items) expect(e).toMatchObject({ organizationId: b.owner.organizationId, action: 'member.invited' });
      const failed = await client.get('/api/v1/audit-events?action=auth.login_failed');
      expect(failed.body.items.map((e: { actorLabel: string }) => e.actorLabel)).toEqual([b.owner.email]);

      for (const res of [keys, members, invitations, environments, lifecycles, projects, audit, invited, failed]) {
        for (const secret of secretsOf(a)) expect(res.text).not.toContain(secret);
      }
    });

    it("gets 404, never 403, for A's key, members and invitation, and changes nothing of A", async () => {
      const client = bClient();
      const before = await view(a);
      expect(before.invitations.map((i) => i.id)).toEqual([a.invitation.id]);
      const attempts = [
        await client.delete(`/api/v1/api-keys/${a.ownerKey.id}`),
        await client.delete(`/api/v1/api-keys/${a.memberKey.id}`),
        await client.patch(`/api/v1/members/${a.member.membershipId}`, { role: 'viewer' }),
        await client.patch(`/api/v1/members/${a.member.membershipId}`, { role: 'admin' }),
        await client.patch(`/api/v1/members/${a.ownerMembershipId}`, { role: 'viewer' }),
        await client.delete(`/api/v1/members/${a.member.membershipId}`),
        await client.delete(`/api/v1/members/${a.ownerMembershipId}`),
        await client.delete(`/api/v1/invitations/${a.invitation.id}`),
        await client.get(`/api/v1/environments/${a.environment.id}`),
        await client.patch(`/api/v1/environments/${a.environment.id}`, { name: 'Taken' }),
        await client.delete(`/api/v1/environments/${a.environment.id}`),
        await client.post('/api/v1/environments/order', { ids: [a.environment.id, b.environment.id] }),
        await client.get(`/api/v1/lifecycles/${a.lifecycle.id}`),
        await client.patch(`/api/v1/lifecycles/${a.lifecycle.id}`, { name: 'Taken' }),
        await client.delete(`/api/v1/lifecycles/${a.lifecycle.id}`),
        await client.get(`/api/v1/projects/${a.project.id}`),
        await client.patch(`/api/v1/projects/${a.project.id}`, { name: 'Taken' }),
        await client.get(`/api/v1/projects/${a.project.id}/process`),
        await client.put(`/api/v1/projects/${a.project.id}/process`, { steps: [] }),
        await client.get(`/api/v1/projects/${a.project.id}/releases`),
        await client.post(`/api/v1/projects/${a.project.id}/releases`, {}),
        await client.get(`/api/v1/releases/${a.releaseId}`),
        await client.post(`/api/v1/releases/${a.releaseId}/deployments`, { environment: b.environment.id }),
        await client.get(`/api/v1/deployments/${a.deploymentId}`),
        await client.post(`/api/v1/deployments/${a.deploymentId}/cancel`, {}),
        await client.get(`/api/v1/projects/${a.project.id}/variables`),
        await client.put(`/api/v1/projects/${a.project.id}/variables`, []),
        await client.get(`/api/v1/projects/${a.project.id}/variables/preview`),
        await client.post(`/api/v1/releases/${a.releaseId}/update-variables`, {}),
        await client.get(`/api/v1/variable-sets/${a.variableSetId}`),
        await client.patch(`/api/v1/variable-sets/${a.variableSetId}`, { name: 'Taken' }),
        await client.get(`/api/v1/variable-sets/${a.variableSetId}/variables`),
        await client.put(`/api/v1/variable-sets/${a.variableSetId}/variables`, []),
        await client.delete(`/api/v1/variable-sets/${a.variableSetId}`),
        await client.delete(`/api/v1/projects/${a.project.id}`),
      ];
      for (const res of attempts) {
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
        expect(res.body.error.message).toMatch(/was not found in your organisation$/);
        // The answer names the id asked for and nothing else of A.
        for (const secret of secretsOf(a).filter((s) => !res.body.error.message.includes(s))) expect(res.text).not.toContain(secret);
      }

      expect(await view(a)).toEqual(before);
      expect((await a.ownerKey.client.get('/api/v1/me')).status).toBe(200);
      expect((await a.memberKey.client.get('/api/v1/me')).body).toMatchObject({ organization: { id: a.owner.organizationId }, role: 'operator' });
      expect((await a.member.client.get('/api/v1/me')).body).toMatchObject({ organization: { id: a.owner.organizationId }, role: 'operator' });
    });
  });

  it("A's invitation, untouched by B, still works, and only for A", async () => {
    const client = app.client();
    const accepted = await client.post('/api/v1/invitations/accept', { token: a.invitation.token, password: PASSWORD });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ organization: { id: a.owner.organizationId }, role: 'viewer' });
    expect((await b.owner.client.get('/api/v1/members')).body.map((m: { email: string }) => m.email)).not.toContain(a.invitation.email);
  });

  it('keeps a user who belongs to both organisations inside the organisation of their session or key', async () => {
    const invited = await b.owner.client.post('/api/v1/members', { email: a.member.email, role: 'admin' });
    expect(invited.status).toBe(201);
    expect((await app.client().post('/api/v1/invitations/accept', { token: invited.body.invitation.token, password: PASSWORD })).status).toBe(200);
    const added = (await b.owner.client.get('/api/v1/members')).body.find((m: { email: string }) => m.email === a.member.email);
    try {
      // A's member is admin in B, but their session and key were issued in A, where they are an operator.
      for (const client of [a.member.client, a.memberKey.client]) {
        const me = await client.get('/api/v1/me');
        expect(me.body).toMatchObject({ organization: { id: a.owner.organizationId }, role: 'operator' });
        const members = await client.get('/api/v1/members');
        expect(members.body.map((m: { email: string }) => m.email)).not.toContain(b.owner.email);
        expect((await client.get('/api/v1/invitations')).status).toBe(403);
        expect((await client.delete(`/api/v1/api-keys/${b.ownerKey.id}`)).status).toBe(404);
        expect((await client.patch(`/api/v1/members/${b.member.membershipId}`, { role: 'viewer' })).status).toBe(403);
      }
      // A fresh login still lands in A, the first organisation.
      const fresh = app.client();
      expect((await fresh.post('/api/v1/auth/login', { email: a.member.email, password: PASSWORD })).status).toBe(200);
      expect((await fresh.get('/api/v1/me')).body.organization.id).toBe(a.owner.organizationId);
      expect((await b.ownerKey.client.get('/api/v1/me')).status).toBe(200);
      expect((await b.member.client.get('/api/v1/me')).body.role).toBe('operator');
    } finally {
      await b.owner.client.delete(`/api/v1/members/${added.id}`);
    }
  });
});
