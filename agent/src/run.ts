import type { CommandContext } from './command-context';
import { readConfigFile, resolveSettings, type SettingFlags } from './config';
import { AgentConnection, type RunOutcome } from './connection';
import { ConfigError } from './errors';
import { HttpClient } from './http-client';
import { buildHello } from './host-facts';
import { DEFAULT_JOB_TIMINGS, JobManager, type JobManagerTimings } from './jobs/job-manager';
import { describePolicy, loadPolicy, policyPaths, readPolicyNow } from './policy';
import { PolicyWatcher } from './policy-watcher';
import { ServiceNotifier, systemdNotifySender } from './service-notifier';
import type { Timings } from './session';
import { StateStore } from './state-store';
import { AGENT_VERSION } from './version';
import { formatBytes } from '../../src/protocol/byte-size';

export interface RunOverrides {
  timings?: Partial<Timings>;
  jobTimings?: Partial<JobManagerTimings>;
  random?: () => number;
}

/** How long after SIGTERM the agent may take: running jobs' grace, their kill, the report, the close. */
export function shutdownBudgetMs(jobTimings: Partial<JobManagerTimings> = {}): number {
  const t = { ...DEFAULT_JOB_TIMINGS, ...jobTimings };
  return t.shutdownGraceMs + t.shutdownKillGraceMs + t.shutdownReportMs + 10_000;
}

/** `corral-agent run`: loads the identity and policy, then hands over to the connection loop until shutdown or a fatal error. */
export async function runAgent(ctx: CommandContext, flags: SettingFlags, signal: AbortSignal, overrides: RunOverrides = {}): Promise<RunOutcome> {
  const settings = resolveSettings({ flags, env: ctx.env, isRoot: ctx.isRoot, home: ctx.home, cwd: ctx.cwd, readConfig: readConfigFile });
  const store = new StateStore(settings.stateDir);
  const identity = store.readIdentity();
  if (!identity)
    throw new ConfigError(
      `not enrolled: ${store.identityPath} does not exist; run "corral-agent enroll --server URL --token TOKEN" first${settings.sources.stateDir === 'default' ? '' : ` with --state-dir ${settings.stateDir}`}`,
    );
  const { key, warning } = store.readPrivateKey();
  if (warning) ctx.logger.warn(warning);
  const policy = loadPolicy(settings.stateDir, ctx.systemPolicyPath);
  const servers = settings.servers.length ? settings.servers : identity.servers;
  const client = new HttpClient({ caFile: settings.caFile ?? identity.caFile, env: ctx.env });
  const release = store.acquireRunLock();
  // Under systemd (Type=notify), READY=1 once connected, and the status line as things change.
  const notifier = ctx.env.NOTIFY_SOCKET ? new ServiceNotifier(systemdNotifySender(ctx.logger, ctx.env)) : null;
  let jobs: JobManager | null = null;
  let watcher: PolicyWatcher | null = null;

  try {
    ctx.logger.info(
      `corral-agent ${AGENT_VERSION} starting: agent "${identity.name}" (${identity.agentId}), fingerprint ${identity.fingerprint}, transport ${settings.transport}, server${servers.length > 1 ? 's' : ''} ${servers.join(', ')}`,
    );
    ctx.logger.info(`local policy: ${describePolicy(policy)}`);
    if (policy.frozen) ctx.logger.warn(`the local policy is frozen: this host accepts no work until "frozen" is removed from ${policy.source}`);
    ctx.logger.info(`runs up to ${settings.maxJobs} job${settings.maxJobs === 1 ? '' : 's'} at once; keeps up to ${formatBytes(settings.spoolMaxBytes)} of unsent output on disk`);

    // The policy is read again for every offer, and watched in between, so the sysadmin's veto
    // applies without a restart and the control plane offers by it from its next offer on.
    let connection: AgentConnection | null = null;
    watcher = new PolicyWatcher(policy, {
      paths: policyPaths(settings.stateDir, ctx.systemPolicyPath),
      read: () => readPolicyNow(settings.stateDir, ctx.systemPolicyPath),
      logger: ctx.logger,
      changed: (now) => {
        ctx.logger.warn(`local policy changed: ${describePolicy(now)} (enforced now, and reported to the control plane)`);
        connection?.reportPolicy(now);
      },
    });
    const policies = watcher;
    jobs = new JobManager({
      stateDir: settings.stateDir,
      agentId: identity.agentId,
      agentName: identity.name,
      maxJobs: settings.maxJobs,
      spoolMaxBytes: settings.spoolMaxBytes,
      policy: () => policies.check(),
      logger: ctx.logger,
      env: ctx.env,
      timings: overrides.jobTimings,
    });
    jobs.init();
    connection = new AgentConnection({
      identity,
      servers,
      transport: settings.transport,
      client,
      signer: { agentId: identity.agentId, privateKey: key },
      hello: buildHello(policy, settings.maxJobs),
      logger: ctx.logger,
      jobs,
      store,
      stateChanged: notifier ? (state) => notifier.update(state) : undefined,
      timings: overrides.timings,
      random: overrides.random,
    });
    watcher.start();
    return await connection.run(signal);
  } finally {
    watcher?.close();
    jobs?.close();
    client.close();
    release();
    await notifier?.idle();
  }
}
