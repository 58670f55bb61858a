import type { CommandContext } from './command-context';
import { readConfigFile, resolveSettings, type SettingFlags } from './config';
import { ConfigError } from './errors';
import { describePolicy, loadPolicy } from './policy';
import { StateStore, type StatusFile } from './state-store';

function connectionLine(status: StatusFile | null, running: boolean): string {
  if (!status) return 'never connected';
  const transport = status.transport === 'long-poll' ? 'HTTP long-poll' : status.transport;
  if (!running) return `not running${status.transport && status.server ? ` (last used ${transport} to ${status.server}, ${status.updatedAt})` : ''}`;
  if (status.connected) return `connected over ${transport} to ${status.server} (as of ${status.updatedAt})`;
  return `running, not connected (${status.updatedAt})`;
}

/** `corral-agent status`: what the state files say, without contacting anyone. */
export function statusReport(ctx: CommandContext, flags: SettingFlags & { json?: boolean }): number {
  const settings = resolveSettings({ flags, env: ctx.env, isRoot: ctx.isRoot, home: ctx.home, cwd: ctx.cwd, readConfig: readConfigFile });
  const store = new StateStore(settings.stateDir);
  const identity = store.readIdentity();
  if (!identity) throw new ConfigError(`not enrolled: ${store.identityPath} does not exist (state directory ${settings.stateDir}); run "corral-agent enroll --server URL --token TOKEN"`);
  const status = store.readStatus();
  const running = StateStore.processAlive(status?.pid ?? null);
  let policy: string;
  let policyValue: unknown;
  try {
    const loaded = loadPolicy(settings.stateDir, ctx.systemPolicyPath);
    policy = describePolicy(loaded);
    policyValue = loaded;
  } catch (err) {
    policy = `INVALID: ${(err as Error).message}`;
    policyValue = { error: (err as Error).message };
  }
  const servers = settings.servers.length ? settings.servers : identity.servers;

  if (flags.json) {
    ctx.stdout.write(
      `${JSON.stringify({
        stateDir: settings.stateDir,
        agentId: identity.agentId,
        name: identity.name,
        fingerprint: identity.fingerprint,
        verificationCode: identity.verificationCode,
        servers,
        status: status?.status ?? null,
        statusReason: status?.statusReason ?? null,
        running,
        connected: running && (status?.connected ?? false),
        transport: status?.transport ?? null,
        server: status?.server ?? null,
        lastError: status?.lastError ?? null,
        updatedAt: status?.updatedAt ?? null,
        policy: policyValue,
      })}\n`,
    );
    return 0;
  }
  const approval = status?.status ? `${status.status}${status.statusReason ? ` (${status.statusReason})` : ''}` : 'unknown (never connected)';
  const lines = [
    `Agent              ${identity.name} (${identity.agentId})`,
    `Fingerprint        ${identity.fingerprint}`,
    `Verification code  ${identity.verificationCode}`,
    `Server${servers.length > 1 ? 's' : ' '}            ${servers.join(', ')}`,
    `Approval           ${approval}`,
    `Connection         ${connectionLine(status, running)}`,
  ];
  if (status?.lastError) lines.push(`Last error         ${status.lastError}`);
  lines.push(`Local policy       ${policy}`, `State directory    ${settings.stateDir}`);
  ctx.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
