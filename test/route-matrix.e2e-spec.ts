import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { ROLES, type Role, roleAtLeast } from '../src/orgs/roles';
import { AGENT_PATHS, type AgentJobMessageInput, CLOSE_CODES } from '../src/protocol/messages';
import { waitFor } from './helpers/control-plane-process';
import { makeApiKey, makeApprovedAgent, makeMember, PASSWORD, type SignedUp, signUp, uniqueEmail } from './helpers/factories';
import type { HttpClient } from './helpers/http-client';
import { ProtocolAgent } from './helpers/protocol-agent';
import { type Route, routeTable } from './helpers/route-table';
import { startTestApp, type TestApp } from './helpers/test-app';

// The authorisation matrix (issue 17), enumerated from the application itself: every route Nest
// maps (and the agents' WebSocket) must have an entry below, every entry a route, and each route
// is called anonymously, by every role below its least one, by its least role, and by another
// organisation's owner on a resource of this one, expecting 401, 403, success-or-input-error and
// 404 respectively. Routes with an authentication of their own (agents' signatures, the metrics
// token, the platform operator list) and the public ones say so in their entry, and why.

// ------------------------------------------------------------------------------------------------
// The route table, as Nest builds it
// ------------------------------------------------------------------------------------------------

/** The routes the running node says it mapped ("Mapped {/path, GET} route" in its debug log). */
function mappedByNode(logs: string): string[] {
  return [...logs.matchAll(/Mapped \{([^,}]+), (\w+)\} route/g)].map(([, path, method]) => `${method} ${path}`).sort();
}

// ------------------------------------------------------------------------------------------------
// Fixtures: two organisations with one of everything
// ------------------------------------------------------------------------------------------------

type Member = SignedUp & { membershipId: string };

interface Org {
  owner: SignedUp;
  members: Record<Exclude<Role, 'owner'>, Member>;
  viewerKey: { key: string; id: string };
  agent: ProtocolAgent;
  ids: {
    environment: string;
    lifecycle: string;
    project: string;
    variableSet: string;
    release: string;
    deployment: string;
    interruption: string;
    task: string;
    pendingAgent: string;
    enrollmentToken: string;
    invitation: string;
  };
}

interface Ctx {
  app: TestApp;
  a: Org;
  b: Org;
  platformOperator: SignedUp;
}

const hex = () => randomBytes(3).toString('hex');

async function created(what: string, res: Promise<{ status: number; text: string; body: any }>, status = 201): Promise<any> {
  const r = await res;
  if (r.status !== status) throw new Error(`creating ${what}: ${r.status} ${r.text}`);
  return r.body;
}

async function enrollPending(app: TestApp, owner: SignedUp): Promise<{ id: string; verificationCode: string }> {
  const token = await created('enrollment token', owner.client.post('/api/v1/enrollment-tokens', {}));
  const agent = new ProtocolAgent(app.url);
  const enrolled = await created('pending agent', agent.enroll(token.token));
  return { id: agent.agentId, verificationCode: enrolled.verificationCode };
}

async function makeOrg(app: TestApp, name: string): Promise<Org> {
  const owner = await signUp(app, `${name} ${hex()}`);
  const members = {
    viewer: await makeMember(app, owner, 'viewer'),
    operator: await makeMember(app, owner, 'operator'),
    admin: await makeMember(app, owner, 'admin'),
  };
  const viewerKey = await makeApiKey(app, owner, 'viewer');
  const c = owner.client;
  const environment = await created('environment', c.post('/api/v1/environments', { name: `Env-${hex()}` }));
  const lifecycle = await created('lifecycle', c.post('/api/v1/lifecycles', { name: `Lifecycle-${hex()}`, phases: [{ name: 'Only', environments: [environment.id] }] }));
  // A step no agent has the role for: it is skipped and the deployment ends at once.
  const project = await created('project', c.post('/api/v1/projects', { name: `Project-${hex()}`, lifecycleId: lifecycle.id }));
  const steps = [{ name: 'build', kind: 'script', script: { syntax: 'sh', body: 'true' }, targetRoles: ['nobody-has-this-role'] }];
  await created('process', c.put(`/api/v1/projects/${project.id}/process`, { steps }), 200);
  const variableSet = await created('variable set', c.post('/api/v1/variable-sets', { name: `Set-${hex()}` }));
  const release = await created('release', c.post(`/api/v1/projects/${project.id}/releases`, {}));
  const deployment = await created('deployment', c.post(`/api/v1/releases/${release.id}/deployments`, { environment: environment.id }));
  // A manual step an operator answers: the deployment waits on it, with an open interruption.
  const manual = await created('manual project', c.post('/api/v1/projects', { name: `Manual-${hex()}`, lifecycleId: lifecycle.id }));
  const manualSteps = [{ name: 'approve', kind: 'manual', instructions: 'check the ticket', responsibleRole: 'operator' }];
  await created('manual process', c.put(`/api/v1/projects/${manual.id}/process`, { steps: manualSteps }), 200);
  const manualRelease = await created('manual release', c.post(`/api/v1/projects/${manual.id}/releases`, {}));
  const paused = await created('paused deployment', c.post(`/api/v1/releases/${manualRelease.id}/deployments`, { environment: environment.id }));
  const interruption = await waitFor(
    'the manual step to open an interruption',
    async () => (await c.get(`/api/v1/deployments/${paused.id}`)).body.interruptions?.[0]?.id as string | undefined,
    20_000,
  );
  const agent = await makeApprovedAgent(app, owner);
  const pending = await enrollPending(app, owner);
  const enrollmentToken = await created('enrollment token', c.post('/api/v1/enrollment-tokens', {}));
  const task = await created('task', c.post('/api/v1/tasks', { targets: { agentIds: [agent.agentId] }, script: { syntax: 'sh', body: 'true' } }));
  const invited = await created('invitation', c.post('/api/v1/members', { email: uniqueEmail('invited'), role: 'viewer' }));
  return {
    owner,
    members,
    viewerKey,
    agent,
    ids: {
      environment: environment.id,
      lifecycle: lifecycle.id,
      project: project.id,
      variableSet: variableSet.id,
      release: release.id,
      deployment: deployment.id,
      interruption,
      task: task.id,
      pendingAgent: pending.id,
      enrollmentToken: enrollmentToken.id,
      invitation: invited.invitation.id,
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Calling a route
// ------------------------------------------------------------------------------------------------

interface Caller {
  name: string;
  headers: () => Record<string, string>;
}

interface Answer {
  status: number;
  code: string | undefined;
  text: string;
}

const anonymous: Caller = { name: 'anonymous', headers: () => ({}) };
const sessionOf = (name: string, client: HttpClient): Caller => ({ name, headers: () => ({ cookie: client.cookieHeader() }) });
const bearer = (name: string, key: string): Caller => ({ name, headers: () => ({ authorization: `Bearer ${key}` }) });
const HAS_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** One request, bounded in time; a server-sent event stream is answered by its headers alone. */
async function call(ctx: Ctx, caller: Caller, method: string, path: string, body: unknown): Promise<Answer> {
  const headers: Record<string, string> = { ...caller.headers() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(ctx.app.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual', signal: AbortSignal.timeout(15_000) });
  if (res.headers.get('content-type')?.includes('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, code: undefined, text: '' };
  }
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.status, code, text };
}

// ------------------------------------------------------------------------------------------------
// The matrix
// ------------------------------------------------------------------------------------------------

type Params = Record<string, string>;

/** What the least-role call uses instead of the shared fixtures: a resource it may destroy, another caller. */
interface LeastCall {
  params?: Params;
  body?: unknown;
  caller?: Caller;
}

type Access =
  /** @RequireRole: anonymous 401, each lower role 403, the least role passes, another organisation's resource 404. */
  | { kind: 'role'; least: Role; viewerMayMutate?: string }
  /** @RequirePlatformOperator: anonymous 401; to anyone not listed in CORRAL_PLATFORM_OPERATORS the route is not there (404 ROUTE_NOT_FOUND). */
  | { kind: 'platform-operator'; why: string }
  /** @Public: no authentication at all; `anonymous` is what an anonymous call with the entry's body gets. */
  | { kind: 'public'; why: string; anonymous: number }
  /** @Public to the guard, authenticated by the METRICS_TOKEN bearer. */
  | { kind: 'metrics-token'; why: string }
  /** @Public to the guard, authenticated by the agent's request signature: unsigned (or a user's credentials) 401. */
  | { kind: 'agent-signed'; signed: (ctx: Ctx) => Promise<Answer>; signedStatus: number }
  /** The agents' WebSocket: an unsigned upgrade is closed with CLOSE_CODES.unauthenticated. */
  | { kind: 'agent-ws' };

interface Entry {
  access: Access;
  /** The real resources of `org` the path's :params name. */
  params?: (org: Org) => Params;
  query?: (org: Org) => string;
  /** A valid body (about `org`'s resources): validation runs before the lookup, so a bad body would hide a 404. */
  body?: (org: Org) => unknown;
  /** For a destructive route: a fresh resource (or caller) for the least-role call, so the shared fixtures survive. */
  least?: (ctx: Ctx) => Promise<LeastCall>;
  /** Why a route with :params has no cross-organisation check. */
  noCrossOrg?: string;
  /** A body naming another organisation's resources (on a route without :params), and the answer it must get. */
  crossOrgBody?: { body: (a: Org, b: Org) => unknown; status: number };
  /**
   * Known violations, each exactly as the check reports it, with why it is accepted for now. The
   * test fails when one of them stops happening: then remove it from here.
   */
  known?: { failure: string; why: string }[];
}

const fresh = {
  member: async (ctx: Ctx) => (await makeMember(ctx.app, ctx.a.owner, 'viewer')).membershipId,
  invitation: async (ctx: Ctx) => (await created('invitation', ctx.a.owner.client.post('/api/v1/members', { email: uniqueEmail('fresh'), role: 'viewer' }))).invitation.id as string,
  token: async (ctx: Ctx) => (await created('enrollment token', ctx.a.owner.client.post('/api/v1/enrollment-tokens', {}))).id as string,
  environment: async (ctx: Ctx) => (await created('environment', ctx.a.owner.client.post('/api/v1/environments', { name: `Doomed-${hex()}` }))).id as string,
  lifecycle: async (ctx: Ctx) => (await created('lifecycle', ctx.a.owner.client.post('/api/v1/lifecycles', { name: `Doomed-${hex()}` }))).id as string,
  project: async (ctx: Ctx) => (await created('project', ctx.a.owner.client.post('/api/v1/projects', { name: `Doomed-${hex()}` }))).id as string,
  variableSet: async (ctx: Ctx) => (await created('variable set', ctx.a.owner.client.post('/api/v1/variable-sets', { name: `Doomed-${hex()}` }))).id as string,
};

const id = (pick: (o: Org) => string) => (o: Org) => ({ id: pick(o) });
const role = (least: Role, viewerMayMutate?: string): Access => ({ kind: 'role', least, ...(viewerMayMutate ? { viewerMayMutate } : {}) });
const TASK_BODY = (o: Org) => ({ targets: { agentIds: [o.agent.agentId] }, script: { syntax: 'sh', body: 'true' } });
// A heartbeat for no job: the one message an agent may always send.
const HEARTBEAT: AgentJobMessageInput = { type: 'agent.job.heartbeat', jobs: [] };
const ENROLL_BODY = (agent: ProtocolAgent, token: string) => ({ token, publicKey: agent.keys.publicKey, name: agent.name, ...agent.hello(), type: undefined, v: undefined });

const MATRIX: Record<string, Entry> = {
  // --- identity -----------------------------------------------------------------------------
  'POST /api/v1/signup': { access: { kind: 'public', why: 'creating an account and its organisation is how one starts', anonymous: 422 } },
  'POST /api/v1/auth/login': { access: { kind: 'public', why: 'logging in is how a session starts', anonymous: 422 } },
  'POST /api/v1/invitations/accept': { access: { kind: 'public', why: 'the invitation token is the credential of someone without an account yet', anonymous: 422 } },
  'POST /api/v1/auth/logout': {
    access: role('viewer', "ends the caller's own session"),
    least: async (ctx) => {
      // A session of its own: logging out the shared viewer would unauthenticate later checks.
      const client = ctx.app.client();
      await created('viewer session', client.post('/api/v1/auth/login', { email: ctx.a.members.viewer.email, password: PASSWORD }), 200);
      return { caller: sessionOf('viewer (own session)', client) };
    },
  },
  'GET /api/v1/me': { access: role('viewer') },
  'GET /api/v1/console/session': { access: { kind: 'public', why: 'the console asks who is logged in before anyone is: {me: null}, not 401', anonymous: 200 } },
  'POST /api/v1/api-keys': { access: role('viewer', 'a key acts with at most its creator’s role, so any member may make keys for themselves'), body: () => ({ name: `key-${hex()}` }) },
  'GET /api/v1/api-keys': { access: role('viewer') },
  'DELETE /api/v1/api-keys/:id': {
    access: role('viewer', 'revokes one of the caller’s own keys (another member’s needs admin, checked by the service)'),
    params: (o) => ({ id: o.viewerKey.id }),
    least: async (ctx) => ({ params: { id: (await makeApiKey(ctx.app, ctx.a.members.viewer)).id } }),
  },
  'GET /api/v1/members': { access: role('viewer') },
  'POST /api/v1/members': { access: role('admin'), body: () => ({ email: uniqueEmail('matrix'), role: 'viewer' }) },
  'PATCH /api/v1/members/:id': {
    access: role('admin'),
    params: id((o) => o.members.viewer.membershipId),
    body: () => ({ role: 'operator' }),
    least: async (ctx) => ({ params: { id: await fresh.member(ctx) } }),
  },
  'DELETE /api/v1/members/:id': { access: role('admin'), params: id((o) => o.members.viewer.membershipId), least: async (ctx) => ({ params: { id: await fresh.member(ctx) } }) },
  'GET /api/v1/invitations': { access: role('admin') },
  'DELETE /api/v1/invitations/:id': { access: role('admin'), params: id((o) => o.ids.invitation), least: async (ctx) => ({ params: { id: await fresh.invitation(ctx) } }) },
  'GET /api/v1/audit-events': { access: role('admin') },

  // --- agents, as the console and API see them ------------------------------------------------
  'GET /api/v1/agents': { access: role('viewer') },
  'GET /api/v1/agents/:id': { access: role('viewer'), params: id((o) => o.agent.agentId) },
  'PATCH /api/v1/agents/:id': { access: role('admin'), params: id((o) => o.agent.agentId), body: () => ({}) },
  'POST /api/v1/agents/:id/approve': {
    access: role('admin'),
    params: id((o) => o.ids.pendingAgent),
    body: () => ({}),
    least: async (ctx) => {
      const pending = await enrollPending(ctx.app, ctx.a.owner);
      return { params: { id: pending.id }, body: { verificationCode: pending.verificationCode } };
    },
  },
  'POST /api/v1/agents/:id/reject': {
    access: role('admin'),
    params: id((o) => o.ids.pendingAgent),
    body: () => ({}),
    least: async (ctx) => ({ params: { id: (await enrollPending(ctx.app, ctx.a.owner)).id } }),
  },
  'POST /api/v1/agents/:id/revoke': {
    access: role('admin'),
    params: id((o) => o.agent.agentId),
    body: () => ({}),
    least: async (ctx) => ({ params: { id: (await makeApprovedAgent(ctx.app, ctx.a.owner)).agentId } }),
  },
  'DELETE /api/v1/agents/:id': { access: role('admin'), params: id((o) => o.ids.pendingAgent), least: async (ctx) => ({ params: { id: (await enrollPending(ctx.app, ctx.a.owner)).id } }) },
  'POST /api/v1/agents/health-checks': {
    access: role('admin'),
    body: (o) => ({ agentIds: [o.agent.agentId] }),
    // As test/health-checks.e2e-spec.ts established: an agent of another organisation is "no such agent".
    crossOrgBody: { body: (_a, b) => ({ agentIds: [b.agent.agentId] }), status: 422 },
  },
  'POST /api/v1/enrollment-tokens': { access: role('admin'), body: () => ({}) },
  'GET /api/v1/enrollment-tokens': { access: role('admin') },
  'DELETE /api/v1/enrollment-tokens/:id': { access: role('admin'), params: id((o) => o.ids.enrollmentToken), least: async (ctx) => ({ params: { id: await fresh.token(ctx) } }) },
  'GET /api/v1/agent-events': { access: role('viewer') },

  // --- the agent protocol: signed by the agent's key, never by a user's credentials ---------------
  'POST /api/agent/v1/enroll': {
    access: {
      kind: 'agent-signed',
      // Signed by the key it presents, with a token that allows one more agent.
      signed: async (ctx) => {
        const token = await created('enrollment token', ctx.a.owner.client.post('/api/v1/enrollment-tokens', {}));
        const res = await new ProtocolAgent(ctx.app.url).enroll(token.token);
        return { status: res.status, code: res.body?.error?.code, text: res.text };
      },
      signedStatus: 201,
    },
    // Well-formed (the shape is checked first), unknown token: the signature is checked before the token.
    body: (o) => ENROLL_BODY(o.agent, `crl_enr_${randomBytes(20).toString('hex')}`),
  },
  'POST /api/agent/v1/poll': {
    access: { kind: 'agent-signed', signed: async (ctx) => answerOf(await ctx.a.agent.poll(null)), signedStatus: 200 },
    body: (o) => ({ ...o.agent.hello(), knownStatus: null }),
  },
  'POST /api/agent/v1/messages': {
    access: { kind: 'agent-signed', signed: async (ctx) => answerOf(await ctx.a.agent.post([HEARTBEAT])), signedStatus: 200 },
    body: () => ({ messages: [HEARTBEAT] }),
  },
  'GET /api/agent/v1/whoami': { access: { kind: 'agent-signed', signed: async (ctx) => answerOf(await ctx.a.agent.signedFetch('GET', AGENT_PATHS.whoami)), signedStatus: 200 } },
  'GET /api/agent/v1/time': { access: { kind: 'public', why: 'an agent measures its clock skew before it can sign anything', anonymous: 200 } },
  'WS /api/agent/v1/ws': { access: { kind: 'agent-ws' } },
  'GET /api/agent/v1/ws': { access: { kind: 'public', why: 'the WebSocket reached without its Upgrade header (a proxy dropped it): 426 saying so, to anyone', anonymous: 426 } },

  // --- the task engine ------------------------------------------------------------------------
  'POST /api/v1/tasks': {
    access: role('operator'),
    body: TASK_BODY,
    // As test/tasks.e2e-spec.ts established: an agent of another organisation is not a valid target.
    crossOrgBody: { body: (_a, b) => TASK_BODY(b), status: 422 },
  },
  'GET /api/v1/tasks': { access: role('viewer') },
  'GET /api/v1/tasks/:id': { access: role('viewer'), params: id((o) => o.ids.task) },
  'GET /api/v1/tasks/:id/log': { access: role('viewer'), params: id((o) => o.ids.task) },
  'POST /api/v1/tasks/:id/cancel': {
    access: role('operator'),
    params: id((o) => o.ids.task),
    least: async (ctx) => ({ params: { id: (await created('task', ctx.a.owner.client.post('/api/v1/tasks', TASK_BODY(ctx.a)))).id } }),
  },

  // --- environments, lifecycles, projects, releases, deployments --------------------------------
  'GET /api/v1/environments': { access: role('viewer') },
  'POST /api/v1/environments': { access: role('admin'), body: () => ({ name: `New-${hex()}` }) },
  'POST /api/v1/environments/order': {
    access: role('admin'),
    body: (o) => ({ ids: [o.ids.environment] }),
    // Every environment of A, as the order must name them all (other entries create some).
    least: async (ctx) => ({ body: { ids: (await ctx.a.owner.client.get('/api/v1/environments')).body.map((e: { id: string }) => e.id) } }),
    // As test/isolation.e2e-spec.ts established: ordering another organisation's environment is 404.
    crossOrgBody: { body: (_a, b) => ({ ids: [b.ids.environment] }), status: 404 },
  },
  'GET /api/v1/environments/:id': { access: role('viewer'), params: id((o) => o.ids.environment) },
  'PATCH /api/v1/environments/:id': {
    access: role('admin'),
    params: id((o) => o.ids.environment),
    // An empty patch, as the other PATCH routes take it (200, nothing changed).
    body: () => ({}),
  },
  'DELETE /api/v1/environments/:id': { access: role('admin'), params: id((o) => o.ids.environment), least: async (ctx) => ({ params: { id: await fresh.environment(ctx) } }) },
  'GET /api/v1/lifecycles': { access: role('viewer') },
  'POST /api/v1/lifecycles': { access: role('admin'), body: () => ({ name: `New-${hex()}` }) },
  'GET /api/v1/lifecycles/:id': { access: role('viewer'), params: id((o) => o.ids.lifecycle) },
  'PATCH /api/v1/lifecycles/:id': { access: role('admin'), params: id((o) => o.ids.lifecycle), body: () => ({}) },
  'DELETE /api/v1/lifecycles/:id': { access: role('admin'), params: id((o) => o.ids.lifecycle), least: async (ctx) => ({ params: { id: await fresh.lifecycle(ctx) } }) },
  'GET /api/v1/projects': { access: role('viewer') },
  'POST /api/v1/projects': { access: role('admin'), body: () => ({ name: `New-${hex()}` }) },
  'GET /api/v1/projects/:id': { access: role('viewer'), params: id((o) => o.ids.project) },
  'PATCH /api/v1/projects/:id': { access: role('admin'), params: id((o) => o.ids.project), body: () => ({}) },
  'DELETE /api/v1/projects/:id': { access: role('admin'), params: id((o) => o.ids.project), least: async (ctx) => ({ params: { id: await fresh.project(ctx) } }) },
  'GET /api/v1/projects/:id/variables': { access: role('viewer'), params: id((o) => o.ids.project) },
  'PUT /api/v1/projects/:id/variables': { access: role('admin'), params: id((o) => o.ids.project), body: () => [] },
  'GET /api/v1/projects/:id/variables/preview': { access: role('viewer'), params: id((o) => o.ids.project), query: (o) => `?environment=${o.ids.environment}` },
  'GET /api/v1/projects/:id/process': { access: role('viewer'), params: id((o) => o.ids.project) },
  'PUT /api/v1/projects/:id/process': {
    access: role('admin'),
    params: id((o) => o.ids.project),
    body: () => ({ steps: [{ name: 'build', kind: 'script', script: { syntax: 'sh', body: 'true' }, targetRoles: ['nobody-has-this-role'] }] }),
  },
  'GET /api/v1/projects/:id/releases': { access: role('viewer'), params: id((o) => o.ids.project) },
  'POST /api/v1/projects/:id/releases': { access: role('operator'), params: id((o) => o.ids.project), body: () => ({}) },
  'GET /api/v1/releases/:id': { access: role('viewer'), params: id((o) => o.ids.release) },
  'POST /api/v1/releases/:id/update-variables': { access: role('operator'), params: id((o) => o.ids.release), body: () => ({}) },
  'POST /api/v1/releases/:id/deployments': { access: role('operator'), params: id((o) => o.ids.release), body: (o) => ({ environment: o.ids.environment }) },
  'POST /api/v1/releases/:id/deployments/preview': {
    access: role('viewer', 'a preview changes nothing: it says what a deployment would do'),
    params: id((o) => o.ids.release),
    body: (o) => ({ environment: o.ids.environment }),
  },
  'GET /api/v1/deployments': { access: role('viewer') },
  'GET /api/v1/deployments/:id': { access: role('viewer'), params: id((o) => o.ids.deployment) },
  'GET /api/v1/deployments/:id/log': { access: role('viewer'), params: id((o) => o.ids.deployment) },
  // The shared deployment has ended: cancelling it is a conflict, which is fine for the least role.
  'POST /api/v1/deployments/:id/cancel': { access: role('operator'), params: id((o) => o.ids.deployment), body: () => ({}) },
  // Each interruption names its responsible role too (the service checks it); the fixture's is operator.
  'POST /api/v1/interruptions/:id': { access: role('operator'), params: id((o) => o.ids.interruption), body: () => ({ action: 'proceed' }) },
  'GET /api/v1/dashboard': { access: role('viewer') },

  // --- variables ------------------------------------------------------------------------------
  'GET /api/v1/variable-sets': { access: role('viewer') },
  'POST /api/v1/variable-sets': { access: role('admin'), body: () => ({ name: `New-${hex()}` }) },
  'GET /api/v1/variable-sets/:id': { access: role('viewer'), params: id((o) => o.ids.variableSet) },
  'PATCH /api/v1/variable-sets/:id': { access: role('admin'), params: id((o) => o.ids.variableSet), body: () => ({}) },
  'DELETE /api/v1/variable-sets/:id': { access: role('admin'), params: id((o) => o.ids.variableSet), least: async (ctx) => ({ params: { id: await fresh.variableSet(ctx) } }) },
  'GET /api/v1/variable-sets/:id/variables': { access: role('viewer'), params: id((o) => o.ids.variableSet) },
  'PUT /api/v1/variable-sets/:id/variables': { access: role('admin'), params: id((o) => o.ids.variableSet), body: () => [] },

  // --- the control plane itself -----------------------------------------------------------------
  'GET /api/v1/nodes': { access: role('viewer') },
  'POST /api/v1/nodes/:id/drain': {
    access: { kind: 'platform-operator', why: 'draining a node affects every organisation’s agents on it' },
    // Never a real node: draining the only one would send this test's own agents away. An unknown
    // node is NOT_FOUND to an operator, ROUTE_NOT_FOUND to anyone else: the guard is what differs.
    params: () => ({ id: 'no-such-node' }),
    noCrossOrg: 'nodes belong to the control plane, not to an organisation',
  },
  'POST /api/v1/nodes/:id/undrain': {
    access: { kind: 'platform-operator', why: 'undraining a node affects every organisation’s agents on it' },
    params: () => ({ id: 'no-such-node' }),
    noCrossOrg: 'nodes belong to the control plane, not to an organisation',
  },
  'GET /api/v1/platform/nodes': {
    access: { kind: 'platform-operator', why: 'it shows every organisation’s agents and running jobs on each node' },
    noCrossOrg: 'it is about every organisation, for the platform operator',
  },
  'GET /api/v1/organization/limits': { access: role('viewer') },
  'GET /api/v1/platform/organizations': {
    access: { kind: 'platform-operator', why: 'it lists every organisation on the control plane' },
    noCrossOrg: 'it is about every organisation, for the platform operator',
  },
  'PATCH /api/v1/platform/organizations/:id/limits': {
    access: { kind: 'platform-operator', why: 'an organisation’s share of the control plane is set by whoever runs it, never by the organisation' },
    // An empty change: the operator's call leaves the limits as they are.
    params: (o) => ({ id: o.owner.organizationId }),
    body: () => ({}),
    noCrossOrg: 'the platform operator sets any organisation’s limits; no organisation may',
  },
  'GET /metrics': { access: { kind: 'metrics-token', why: 'Prometheus scrapes with METRICS_TOKEN, not with a user account' } },
  'GET /api/v1/openapi.json': { access: { kind: 'public', why: 'the API document describes the routes; it holds nothing of any organisation nor any secret', anonymous: 200 } },
  'GET /healthz': { access: { kind: 'public', why: 'a liveness probe carries no credentials and says nothing but "ok"', anonymous: 200 } },
  'GET /downloads/:file': {
    access: { kind: 'public', why: 'the agent and CLI programs hold no secret, and a host fetches the agent before it has any credential', anonymous: 200 },
    params: () => ({ file: 'corral.js' }),
    noCrossOrg: 'a download belongs to no organisation',
  },
  'GET /readyz': { access: { kind: 'public', why: 'a readiness probe carries no credentials and says nothing about any organisation', anonymous: 200 } },
};

/**
 * The console's static files: served by a middleware (ConsoleModule), not a Nest route, for
 * every GET the API, metrics and health paths do not claim. They hold no data: everything the
 * console shows comes from the API, which asks for a session.
 */
const CONSOLE_FILES: Record<string, { status: number; type: RegExp }> = {
  'GET /': { status: 200, type: /text\/html/ },
  'GET /agents': { status: 200, type: /text\/html/ }, // one of the console's own routes, on reload
  'GET /assets/no-such-file.js': { status: 404, type: /text\/plain/ },
  'GET /api/v1/no-such-route': { status: 404, type: /application\/json/ }, // the console never answers for the API
  'GET /api/docs': { status: 200, type: /text\/html/ }, // the API reference (OpenApiModule), not the console
};

function answerOf(res: { status: number; text: string; body: any }): Answer {
  return { status: res.status, code: typeof res.body === 'object' ? res.body?.error?.code : undefined, text: res.text };
}

// ------------------------------------------------------------------------------------------------
// The checks
// ------------------------------------------------------------------------------------------------

const rolesBelow = (least: Role) => ROLES.filter((r) => !roleAtLeast(r, least));

function concretePath(key: string, params: Params, query = ''): string {
  const path = key.slice(key.indexOf(' ') + 1);
  return (
    path.replace(/:(\w+)/g, (_, name: string) => {
      if (!(name in params)) throw new Error(`${key}: the matrix entry gives no value for :${name}`);
      return encodeURIComponent(params[name]);
    }) + query
  );
}

/** Collects what does not hold, as "what: expected …, got …", so a route's failures read as one list. */
class Findings {
  readonly failures: string[] = [];

  expect(what: string, res: Answer, ok: boolean, expected: string) {
    if (!ok) this.failures.push(`${what}: expected ${expected}, got ${res.status}${res.code ? ` ${res.code}` : ''}`);
    else if (res.status >= 500) this.failures.push(`${what}: expected no server error, got ${res.status} ${res.code ?? ''}`.trim());
  }

  status(what: string, res: Answer, status: number, code?: string) {
    this.expect(what, res, res.status === status && (!code || res.code === code), code ? `${status} ${code}` : String(status));
  }

  passes(what: string, res: Answer) {
    this.expect(what, res, res.status !== 401 && res.status !== 403 && res.status < 500, 'neither 401/403 nor 5xx');
  }
}

async function closeCodeOfUnsignedSocket(ctx: Ctx, path: string): Promise<number> {
  const ws = new WebSocket(ctx.app.url.replace(/^http/, 'ws') + path);
  const closed = new Promise<number>((resolve, reject) => {
    ws.once('close', (code) => resolve(code));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
  const timer = setTimeout(() => ws.terminate(), 10_000);
  try {
    return await closed;
  } finally {
    clearTimeout(timer);
  }
}

async function checkRoute(ctx: Ctx, route: Route, entry: Entry): Promise<string[]> {
  const found = new Findings();
  const { a, b } = ctx;
  const method = route.method;
  const pathOf = (org: Org, params?: Params) => concretePath(route.key, params ?? entry.params?.(org) ?? {}, entry.query?.(org) ?? '');
  const bodyOf = (org: Org) => (HAS_BODY.has(method) ? (entry.body?.(org) ?? {}) : undefined);
  const send = (caller: Caller, org: Org = a, params?: Params, body: unknown = bodyOf(org)) => call(ctx, caller, method, pathOf(org, params), body);
  const owner = sessionOf('owner of A', a.owner.client);
  const hasParams = route.path.includes('/:');
  const access = entry.access;

  switch (access.kind) {
    case 'role': {
      found.status('anonymous', await send(anonymous), 401, 'UNAUTHENTICATED');
      found.status('unknown API key', await send(bearer('unknown key', `crl_${randomBytes(16).toString('hex')}`)), 401);
      found.status('unknown session cookie', await send({ name: 'forged cookie', headers: () => ({ cookie: `corral_session=${randomBytes(24).toString('hex')}` }) }), 401);
      for (const lower of rolesBelow(access.least)) {
        found.status(`${lower} of A (session)`, await send(sessionOf(lower, a.members[lower as Exclude<Role, 'owner'>].client)), 403, 'FORBIDDEN');
      }
      if (access.least !== 'viewer') found.status('viewer API key of A', await send(bearer('viewer key', a.viewerKey.key)), 403, 'FORBIDDEN');
      if (hasParams && !entry.noCrossOrg) found.status("owner of A on B's resource", await send(owner, b), 404, 'NOT_FOUND');
      if (entry.crossOrgBody) {
        found.status("owner of A naming B's resources", await call(ctx, owner, method, pathOf(a), entry.crossOrgBody.body(a, b)), entry.crossOrgBody.status);
      }
      // Last, as it may change or destroy what it is given.
      const least = (await entry.least?.(ctx)) ?? {};
      const leastCaller = least.caller ?? (access.least === 'owner' ? owner : sessionOf(access.least, a.members[access.least].client));
      found.passes(`${access.least} of A (least role)`, await send(leastCaller, a, least.params, 'body' in least ? least.body : bodyOf(a)));
      break;
    }
    case 'platform-operator': {
      found.status('anonymous', await send(anonymous), 401, 'UNAUTHENTICATED');
      for (const [name, client] of [
        ['viewer of A', a.members.viewer.client],
        ['owner of A', a.owner.client],
      ] as const) {
        found.status(`${name} (not a platform operator)`, await send(sessionOf(name, client)), 404, 'ROUTE_NOT_FOUND');
      }
      const res = await send(sessionOf('platform operator', ctx.platformOperator.client));
      found.expect('platform operator', res, res.code !== 'ROUTE_NOT_FOUND' && res.status !== 401 && res.status !== 403, 'past the guard (not ROUTE_NOT_FOUND, 401 or 403)');
      break;
    }
    case 'public':
      found.status('anonymous', await send(anonymous), access.anonymous);
      break;
    case 'metrics-token':
      found.status('anonymous', await send(anonymous), 401, 'UNAUTHENTICATED');
      found.status('owner of A (a session is not the scrape token)', await send(owner), 401, 'UNAUTHENTICATED');
      found.status('API key of A', await send(bearer('viewer key', a.viewerKey.key)), 401, 'UNAUTHENTICATED');
      found.status('METRICS_TOKEN', await send(bearer('scraper', METRICS_TOKEN)), 200);
      break;
    case 'agent-signed': {
      found.status('unsigned', await send(anonymous), 401);
      found.status('owner of A (a session is not an agent)', await send(owner), 401);
      found.status('API key of A', await send(bearer('viewer key', a.viewerKey.key)), 401);
      found.status('signed by an agent of A', await access.signed(ctx), access.signedStatus);
      break;
    }
    case 'agent-ws': {
      const code = await closeCodeOfUnsignedSocket(ctx, route.path);
      if (code !== CLOSE_CODES.unauthenticated) found.failures.push(`unsigned upgrade: expected close ${CLOSE_CODES.unauthenticated}, got ${code}`);
      const socket = await a.agent.connect();
      try {
        await socket.next('the status of a signed connection', (m) => m.type === 'signed');
      } finally {
        socket.close();
      }
      break;
    }
  }
  return found.failures;
}

// ------------------------------------------------------------------------------------------------

const METRICS_TOKEN = `scrape-${randomBytes(8).toString('hex')}`;
const PLATFORM_OPERATOR_EMAIL = uniqueEmail('platform-operator');

describe('authorisation matrix, enumerated from the route table', () => {
  let ctx: Ctx;
  let routes: Route[];

  beforeAll(async () => {
    routes = await routeTable();
    const app = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '100000', METRICS_TOKEN, CORRAL_PLATFORM_OPERATORS: PLATFORM_OPERATOR_EMAIL });
    try {
      const [a, b] = [await makeOrg(app, 'Org A'), await makeOrg(app, 'Org B')];
      const platformOperator = await signUp(app, `Operators ${hex()}`, PLATFORM_OPERATOR_EMAIL);
      ctx = { app, a, b, platformOperator };
    } catch (err) {
      await app.close();
      throw err;
    }
  }, 180_000);
  afterAll(() => ctx?.app.close());

  it('finds the routes: the running node maps exactly the HTTP routes the scan found', () => {
    expect(routes.length).toBeGreaterThan(50);
    expect(mappedByNode(ctx.app.logs())).toEqual(routes.filter((r) => r.method !== 'WS').map((r) => r.key));
  });

  it('has an entry for every route, and a route for every entry', () => {
    const keys = new Set(routes.map((r) => r.key));
    const missing = routes.filter((r) => !(r.key in MATRIX)).map((r) => `${r.key} has no entry in MATRIX (test/route-matrix.e2e-spec.ts): add one saying who may call it`);
    const stale = Object.keys(MATRIX)
      .filter((key) => !keys.has(key))
      .map((key) => `${key} is in MATRIX but the application has no such route: remove or rename the entry`);
    expect([...missing, ...stale]).toEqual([]);
  });

  it("states each route's access as the route declares it", () => {
    const mismatches: string[] = [];
    for (const route of routes) {
      const entry = MATRIX[route.key];
      if (!entry) continue;
      const { access } = entry;
      const declared = route.platformOperator ? 'platform-operator' : route.isPublic ? 'public' : route.leastRole ? `role ${route.leastRole}` : 'neither @Public nor @RequireRole';
      const expected = access.kind === 'platform-operator' ? 'platform-operator' : access.kind === 'role' ? `role ${access.least}` : 'public';
      if (declared !== expected) mismatches.push(`${route.key}: the matrix says ${expected}, the route declares ${declared}`);
      if (access.kind === 'role') {
        const mutates = route.method !== 'GET';
        if (mutates && access.least === 'viewer' && !access.viewerMayMutate) mismatches.push(`${route.key}: a viewer may call this state change; say why in viewerMayMutate, or raise its role`);
        if (access.viewerMayMutate && (!mutates || access.least !== 'viewer')) mismatches.push(`${route.key}: viewerMayMutate is set but the route is not a viewer's state change`);
      }
      if (route.path.includes('/:') && !entry.params) mismatches.push(`${route.key}: the entry says nothing of its :params`);
    }
    expect(mismatches).toEqual([]);
  });

  it.each(Object.keys(MATRIX))('%s', async (key) => {
    const route = routes.find((r) => r.key === key);
    if (!route) throw new Error(`${key}: no such route in the application (see the completeness check)`);
    const entry = MATRIX[key];
    const failures = await checkRoute(ctx, route, entry);
    const known = (entry.known ?? []).map((k) => k.failure);
    const fixed = known.filter((f) => !failures.includes(f)).map((f) => `no longer happens, so remove it from the entry's known exceptions: ${f}`);
    expect([...failures.filter((f) => !known.includes(f)), ...fixed]).toEqual([]);
  });

  it.each(Object.keys(CONSOLE_FILES))('console files: %s', async (key) => {
    const [method, path] = key.split(' ');
    const res = await fetch(ctx.app.url + path, { method });
    await res.body?.cancel();
    expect([res.status, res.headers.get('content-type')]).toEqual([CONSOLE_FILES[key].status, expect.stringMatching(CONSOLE_FILES[key].type)]);
  });
});
