import { randomBytes } from 'node:crypto';
import type { HttpClient } from './http-client';
import { ProtocolAgent } from './protocol-agent';
import type { TestApp } from './test-app';

export const PASSWORD = 'correct horse battery';

export interface SignedUp {
  client: HttpClient;
  email: string;
  organizationId: string;
  userId: string;
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}@example.test`;
}

/** A new organisation with its owner logged in. */
export async function signUp(app: Pick<TestApp, 'client'>, organization = `Org ${randomBytes(3).toString('hex')}`, email = uniqueEmail('owner')): Promise<SignedUp> {
  const client = app.client();
  const res = await client.post('/api/v1/signup', { organization, email, password: PASSWORD });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${res.text}`);
  return { client, email, organizationId: res.body.organization.id, userId: res.body.user.id };
}

/** An API key created by `owner`; returns a client that authenticates with it. */
export async function makeApiKey(app: TestApp, owner: SignedUp, role?: string): Promise<{ key: string; id: string; client: HttpClient }> {
  const res = await owner.client.post('/api/v1/api-keys', { name: `key-${randomBytes(2).toString('hex')}`, ...(role ? { role } : {}) });
  if (res.status !== 201) throw new Error(`api key creation failed: ${res.status} ${res.text}`);
  return { key: res.body.key, id: res.body.id, client: app.client().withBearer(res.body.key) };
}

/** A second user of `owner`'s organisation with `role`, logged in. */
export async function makeMember(app: TestApp, owner: SignedUp, role: string): Promise<SignedUp & { membershipId: string }> {
  const email = uniqueEmail(role);
  const invite = await owner.client.post('/api/v1/members', { email, role });
  if (invite.status !== 201) throw new Error(`invite failed: ${invite.status} ${invite.text}`);
  const client = app.client();
  const accepted = await client.post('/api/v1/invitations/accept', { token: invite.body.invitation.token, password: PASSWORD });
  if (accepted.status !== 200) throw new Error(`accept failed: ${accepted.status} ${accepted.text}`);
  const members = await owner.client.get('/api/v1/members');
  const membershipId = members.body.find((m: { email: string }) => m.email === email).id;
  return { client, email, organizationId: owner.organizationId, userId: accepted.body.user.id, membershipId };
}

/** An enrolled and approved agent, speaking the protocol from the test; `setup` runs before it enrolls. */
export async function makeApprovedAgent(app: Pick<TestApp, 'url'>, owner: SignedUp, setup: (a: ProtocolAgent) => void = () => undefined): Promise<ProtocolAgent> {
  const agent = new ProtocolAgent(app.url);
  setup(agent);
  const token = await owner.client.post('/api/v1/enrollment-tokens', {});
  const enrolled = await agent.enroll(token.body.token);
  if (enrolled.status !== 201) throw new Error(`enroll: ${enrolled.status} ${enrolled.text}`);
  const approved = await owner.client.post(`/api/v1/agents/${agent.agentId}/approve`, { verificationCode: enrolled.body.verificationCode });
  if (approved.status !== 200) throw new Error(`approve: ${approved.status} ${approved.text}`);
  return agent;
}
