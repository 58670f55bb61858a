import { UsageError } from '../args';
import { type Command, type Context, EXIT } from '../command';
import { table } from '../output';
import type { Agent } from '../../../src/protocol/api-schema';
import { findAgents, listAgents } from '../resolve';

const STATUSES: readonly Agent['status'][] = ['pending', 'approved', 'rejected', 'revoked'];

export const agentsList: Command = {
  path: ['agents', 'list'],
  summary: 'the organisation’s agents, with their state and connection',
  usage: 'corral agents list [--status pending|approved|rejected|revoked]',
  flags: { status: { value: true } },
  async run(ctx) {
    const status = ctx.flags.string('status');
    if (status !== undefined && !STATUSES.includes(status as Agent['status'])) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, not "${status}"`);
    const agents = await listAgents(ctx.api(), status as Agent['status'] | undefined);
    ctx.out.result(agents, () =>
      table(
        ['NAME', 'STATUS', 'CONNECTION', 'ENVIRONMENTS', 'ROLES', 'CODE', 'ID'],
        agents.map((a) => [
          a.name,
          a.status,
          a.connection.state === 'online' ? `online (${a.connection.transport})` : 'offline',
          a.environments.join(','),
          a.roles.join(','),
          a.verificationCode,
          a.id,
        ]),
      ),
    );
    return EXIT.ok;
  },
};

async function onlyAgent(ctx: Context): Promise<Agent> {
  if (ctx.words.length !== 1) throw new UsageError('name one agent (by name or id)');
  const [agent] = await findAgents(ctx.api(), ctx.words);
  return agent;
}

export const agentsApprove: Command = {
  path: ['agents', 'approve'],
  summary: 'approve a pending agent after comparing what it printed on its server',
  usage: 'corral agents approve AGENT (--code VERIFICATION_CODE | --fingerprint FINGERPRINT) [--environment ENV]... [--role ROLE]...',
  flags: { code: { value: true }, fingerprint: { value: true }, environment: { value: true, repeat: true }, role: { value: true, repeat: true } },
  async run(ctx) {
    const code = ctx.flags.string('code');
    const fingerprint = ctx.flags.string('fingerprint');
    // The comparison is the point of approval: the CLI never fills it in from what the server says.
    if (!code === !fingerprint) throw new UsageError('give --code (the verification code, e.g. 4F7Q-K2MD) or --fingerprint, as the agent printed them on its server');
    const agent = await onlyAgent(ctx);
    const environments = ctx.flags.list('environment');
    const roles = ctx.flags.list('role');
    const api = ctx.api();
    const approved = await api.ok(
      api.client.POST('/api/v1/agents/{id}/approve', {
        params: { path: { id: agent.id } },
        body: { ...(code ? { verificationCode: code } : { fingerprint }), ...(environments.length ? { environments } : {}), ...(roles.length ? { roles } : {}) },
      }),
    );
    ctx.out.result(approved, () => `approved ${approved.name} (${approved.id})`);
    return EXIT.ok;
  },
};

export const agentsRevoke: Command = {
  path: ['agents', 'revoke'],
  summary: 'revoke an agent: it is disconnected and can never connect again',
  usage: 'corral agents revoke AGENT [--reason TEXT]',
  flags: { reason: { value: true } },
  async run(ctx) {
    const agent = await onlyAgent(ctx);
    const api = ctx.api();
    const revoked = await api.ok(api.client.POST('/api/v1/agents/{id}/revoke', { params: { path: { id: agent.id } }, body: { reason: ctx.flags.string('reason') } }));
    ctx.out.result(revoked, () => `revoked ${revoked.name} (${revoked.id})`);
    return EXIT.ok;
  },
};
