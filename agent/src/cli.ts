import type { SettingFlags } from './config';

export const COMMANDS = ['enroll', 'run', 'status', 'doctor'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliFlags extends SettingFlags {
  json?: boolean;
  logFormat?: string;
  serverKey?: string;
}

export type ParsedCli = { kind: 'help'; topic: Command | null } | { kind: 'version' } | { kind: 'command'; command: Command; flags: CliFlags };

/** A command line the agent cannot run: exit 2, with a message saying what was wrong. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: Command | null = null,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

interface OptionSpec {
  key: keyof CliFlags;
  takesValue: boolean;
  repeatable?: boolean;
}

const OPTIONS: Record<string, OptionSpec> = {
  '--server': { key: 'server', takesValue: true, repeatable: true },
  '--token': { key: 'token', takesValue: true },
  '--name': { key: 'name', takesValue: true },
  '--state-dir': { key: 'stateDir', takesValue: true },
  '--transport': { key: 'transport', takesValue: true },
  '--ca-file': { key: 'caFile', takesValue: true },
  '--max-jobs': { key: 'maxJobs', takesValue: true },
  '--spool-max-bytes': { key: 'spoolMaxBytes', takesValue: true },
  '--json': { key: 'json', takesValue: false },
  '--log-format': { key: 'logFormat', takesValue: true },
  '--server-key': { key: 'serverKey', takesValue: true },
};

const ACCEPTS: Record<Command, string[]> = {
  enroll: ['--server', '--token', '--name', '--state-dir', '--ca-file', '--server-key', '--json', '--log-format'],
  run: ['--state-dir', '--transport', '--server', '--ca-file', '--max-jobs', '--spool-max-bytes', '--log-format'],
  status: ['--state-dir', '--json', '--log-format'],
  doctor: ['--state-dir', '--server', '--ca-file', '--log-format'],
};

/** Parses `corral-agent <command> [options]`; throws UsageError for anything it does not know. */
export function parseCommandLine(argv: string[]): ParsedCli {
  if (argv.some((a) => a === '--help' || a === '-h')) {
    const topic = argv.find((a) => (COMMANDS as readonly string[]).includes(a)) as Command | undefined;
    return { kind: 'help', topic: topic ?? null };
  }
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--version' || first === '-v' || first === 'version') return { kind: 'version' };
  if (first === 'help') {
    if (rest.length > 1) throw new UsageError(`"help" takes at most one command name`);
    const topic = rest[0];
    if (topic !== undefined && !(COMMANDS as readonly string[]).includes(topic)) throw new UsageError(`unknown command "${topic}"`);
    return { kind: 'help', topic: (topic as Command | undefined) ?? null };
  }
  if (first.startsWith('-')) throw new UsageError(`expected a command before ${first.split('=')[0]} (one of ${COMMANDS.join(', ')})`);
  if (!(COMMANDS as readonly string[]).includes(first)) throw new UsageError(`unknown command "${first}" (commands: ${COMMANDS.join(', ')}, help)`);
  const command = first as Command;

  const flags: CliFlags = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}" for "${command}"`, command);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = OPTIONS[name];
    if (!spec || !ACCEPTS[command].includes(name)) throw new UsageError(`unknown option ${name} for "${command}" (it accepts ${ACCEPTS[command].join(', ')})`, command);
    if (!spec.takesValue) {
      if (eq !== -1) throw new UsageError(`${name} takes no value`, command);
      (flags as Record<string, unknown>)[spec.key] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = rest[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`, command);
      i++;
    }
    if (!value.trim()) throw new UsageError(`${name} needs a non-empty value`, command);
    if (spec.repeatable) flags.server = [...(flags.server ?? []), value];
    else if ((flags as Record<string, unknown>)[spec.key] !== undefined) throw new UsageError(`${name} given twice`, command);
    else (flags as Record<string, unknown>)[spec.key] = value;
  }
  return { kind: 'command', command, flags };
}

const SETTINGS_HELP = `Settings, first found wins: flag, environment variable, "<state dir>/agent.json", default.
  --server URL       CORRAL_SERVER     "server"     control plane URL; repeat the flag or separate with
                                                    commas to give several (the agent fails over between them)
  --token TOKEN      CORRAL_TOKEN      "token"      enrollment token (crl_enr_...), used by enroll only
  --name NAME        CORRAL_NAME       "name"       agent name shown in the console (default: host name)
  --state-dir DIR    CORRAL_STATE_DIR  -            identity, key and status files (default:
                                                    /var/lib/corral-agent as root, else ~/.corral-agent)
  --transport MODE   CORRAL_TRANSPORT  "transport"  auto (WebSocket, falling back to HTTP long-poll), ws or poll
  --ca-file FILE     CORRAL_CA_FILE    "caFile"     extra PEM CA bundle trusted for TLS (e.g. an intercepting proxy's)
  --max-jobs N       CORRAL_MAX_JOBS   "maxJobs"    jobs run at once, 1 to 64 (default 1; run only)
  --spool-max-bytes SIZE  CORRAL_SPOOL_MAX_BYTES  "spoolMaxBytes"
                                                    most unsent job output kept on disk while the control
                                                    plane is unreachable, e.g. 512MiB (default 1GiB; run only)
  --log-format FORMAT  CORRAL_LOG_FORMAT  -         log lines on stderr as text ("<time> <level> <message>",
                                                    the default) or json (one {"time","level","msg"} object a line)
  HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or lower case) are honoured for every connection.
  CORRAL_LOG_LEVEL=debug|info|warn|error sets how much is logged on stderr (default info).`;

const COMMAND_HELP: Record<Command, string> = {
  enroll: `Usage: corral-agent enroll --server URL --token TOKEN [--name NAME] [--state-dir DIR] [--ca-file FILE] [--server-key SHA256:…] [--json]

Generates this host's key pair (the private key stays in <state dir>/agent.key, mode 0600),
asks the control plane to enroll it, and prints the agent id, key fingerprint and verification
code. An administrator compares them in the Corral console before approving the agent.
--server-key (or CORRAL_SERVER_KEY) names the fingerprint of the key the control plane signs
with, as its console's install command gives it: enrollment fails unless the answer carries it.
--json prints only {"agentId","fingerprint","verificationCode","status"} on stdout.`,
  run: `Usage: corral-agent run [--state-dir DIR] [--transport auto|ws|poll] [--server URL]... [--ca-file FILE] [--max-jobs N] [--spool-max-bytes SIZE]

Connects out to the control plane and stays connected: waits while the agent is pending,
then, once approved, runs the jobs it is offered (up to --max-jobs at once), streaming their
output (sensitive values masked) and reporting how they ended. Exits with code 3 if the agent
is rejected or revoked (running jobs are stopped first).

Every offer is checked against the local policy (<state dir>/policy.json, else
/etc/corral/agent-policy.json; re-read for each offer, and watched: a change is reported to
the control plane within seconds): "frozen", "allowedJobKinds",
"allowScripts", "allowedOrganizations" and "runAs" (switching users needs root). A job id is
recorded in the ledger (<state dir>/jobs/) before it starts and is never run twice.

SIGTERM or SIGINT: no new jobs; running jobs get 10 s to end, then are cancelled (SIGTERM to
their process group, SIGKILL 5 s later); outcomes are reported, then the agent exits 0.

Under systemd (Type=notify, NOTIFY_SOCKET set) the agent tells systemd it is ready once it has
connected the first time, and keeps the unit's status line up to date (systemctl status),
through systemd-notify.`,
  status: `Usage: corral-agent status [--state-dir DIR] [--json]

Shows the identity, server(s), the last known approval state and connection, from the state
files (it contacts nobody).`,
  doctor: `Usage: corral-agent doctor [--state-dir DIR] [--server URL]... [--ca-file FILE]

Checks DNS, TCP, the proxy (when one applies), TLS (https), clock skew against the server and
authentication with this agent's key: one line each, ok or FAIL with what to fix. Exits 1 when
any check fails.`,
};

/** The usage text: all commands, or one in detail. */
export function helpText(topic: Command | null): string {
  if (topic) return `${COMMAND_HELP[topic]}\n\n${SETTINGS_HELP}\n`;
  return `corral-agent: connects this server out to a Corral control plane; no inbound port is needed.

Usage:
  corral-agent enroll --server URL --token TOKEN [--name NAME] [--state-dir DIR] [--ca-file FILE] [--server-key SHA256:…] [--json]
  corral-agent run [--state-dir DIR] [--transport auto|ws|poll] [--server URL]... [--ca-file FILE] [--max-jobs N] [--spool-max-bytes SIZE]
  corral-agent status [--state-dir DIR] [--json]
  corral-agent doctor [--state-dir DIR] [--server URL]... [--ca-file FILE]
  corral-agent help [COMMAND]      corral-agent --version

Commands:
  enroll   create this host's key and ask the control plane to enroll it (then approve it in the console)
  run      connect, stay connected and run the jobs offered; exits 3 when the agent is rejected or revoked
  status   show identity, server(s), approval state and connection from the state files
  doctor   check DNS, TCP, proxy, TLS, clock and authentication, one line each

${SETTINGS_HELP}

Every command also takes --log-format text|json.

Exit codes: 0 success, 1 error, 2 bad command line or configuration, 3 agent rejected or revoked.
`;
}
