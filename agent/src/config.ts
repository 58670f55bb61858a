import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { MAX_JOBS_PER_AGENT } from '../../src/protocol/messages';
import { ConfigError } from './errors';
import { LOG_FORMATS, type LogFormat } from './log';

export const TRANSPORT_MODES = ['auto', 'ws', 'poll'] as const;
export type TransportMode = (typeof TRANSPORT_MODES)[number];

export const CONFIG_FILE_NAME = 'agent.json';

/** Flags as the command line gave them; absent means "not given". */
export interface SettingFlags {
  server?: string[];
  token?: string;
  name?: string;
  stateDir?: string;
  transport?: string;
  caFile?: string;
  maxJobs?: string;
  spoolMaxBytes?: string;
}

export type SettingSource = 'flag' | 'env' | 'config' | 'identity' | 'default';

export interface AgentSettings {
  stateDir: string;
  servers: string[]; // may be empty; commands that need a server say so
  token: string | null;
  name: string | null;
  transport: TransportMode;
  caFile: string | null;
  /** How many jobs run at once. */
  maxJobs: number;
  /** The most unsent job output kept on disk, over all jobs, for when the control plane is unreachable. */
  spoolMaxBytes: number;
  sources: {
    stateDir: SettingSource;
    servers: SettingSource | null;
    token: SettingSource | null;
    name: SettingSource | null;
    transport: SettingSource;
    caFile: SettingSource | null;
    maxJobs: SettingSource;
    spoolMaxBytes: SettingSource;
  };
}

/** Environment variables, with the setting each one feeds. */
export const ENV_VARS = {
  server: 'CORRAL_SERVER',
  token: 'CORRAL_TOKEN',
  name: 'CORRAL_NAME',
  stateDir: 'CORRAL_STATE_DIR',
  transport: 'CORRAL_TRANSPORT',
  caFile: 'CORRAL_CA_FILE',
  maxJobs: 'CORRAL_MAX_JOBS',
  spoolMaxBytes: 'CORRAL_SPOOL_MAX_BYTES',
  logFormat: 'CORRAL_LOG_FORMAT',
} as const;

/** The default cap on unsent job output on disk: enough for a long outage of a chatty job, small next to a disk. */
export const DEFAULT_SPOOL_MAX_BYTES = 1024 ** 3;
/** Below this, the cap could not hold a few chunks of output. */
export const MIN_SPOOL_MAX_BYTES = 64 * 1024;

// agent.json: the same settings, for hosts configured by a file. Unknown keys are errors.
const ConfigFileSchema = z
  .object({
    server: z.union([z.string(), z.array(z.string()).min(1)]),
    token: z.string(),
    name: z.string(),
    transport: z.string(),
    caFile: z.string(),
    maxJobs: z.union([z.number(), z.string()]),
    spoolMaxBytes: z.union([z.number(), z.string()]),
  })
  .partial()
  .strict();
export type ConfigFile = z.infer<typeof ConfigFileSchema>;

/** `/var/lib/corral-agent` for root (a system service), `~/.corral-agent` for anyone else. */
export function defaultStateDir(isRoot: boolean, home: string): string {
  return isRoot ? '/var/lib/corral-agent' : join(home, '.corral-agent');
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** Validates and normalises control-plane URLs: http(s), no credentials, no query; trailing slash dropped. */
export function parseServerList(values: string[], from: string): string[] {
  const out: string[] = [];
  for (const value of values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(`${from}: "${value}" is not a URL (expected e.g. https://corral.example.com)`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${from}: "${value}" must start with https:// (or http:// for a test server)`);
    if (url.username || url.password) throw new ConfigError(`${from}: "${url.host}" must not carry credentials in the URL`);
    if (url.search || url.hash) throw new ConfigError(`${from}: "${value}" must not have a query or fragment`);
    const normalized = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    if (!out.includes(normalized)) out.push(normalized);
  }
  return out;
}

export function parseTransport(value: string, from: string): TransportMode {
  const v = value.trim().toLowerCase();
  if (v === 'websocket') return 'ws';
  if (v === 'long-poll' || v === 'longpoll') return 'poll';
  if ((TRANSPORT_MODES as readonly string[]).includes(v)) return v as TransportMode;
  throw new ConfigError(`${from}: transport must be auto, ws or poll (got "${value}")`);
}

/** Reads `<stateDir>/agent.json`; null when there is none. */
export function readConfigFile(path: string): ConfigFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ConfigFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}` : `${i.path.join('.') || 'file'}: ${i.message}`,
    );
    throw new ConfigError(`${path} is invalid: ${problems.join('; ')} (allowed keys: server, token, name, transport, caFile, maxJobs, spoolMaxBytes)`);
  }
  return parsed.data;
}

export function parseLogFormat(value: string, from: string): LogFormat {
  const v = value.trim().toLowerCase();
  if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new ConfigError(`${from}: the log format must be text or json (got "${value}")`);
}

/** The log format: flag, then environment, then text. Not from agent.json: the logger exists before the state dir is known. */
export function resolveLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv): LogFormat {
  const fromFlag = nonEmpty(flag);
  if (fromFlag) return parseLogFormat(fromFlag, '--log-format');
  const fromEnv = nonEmpty(env[ENV_VARS.logFormat]);
  return fromEnv ? parseLogFormat(fromEnv, ENV_VARS.logFormat) : 'text';
}

/** A whole number of jobs from 1 to MAX_JOBS_PER_AGENT. */
export function parseMaxJobs(value: string | number, from: string): number {
  const text = String(value).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_JOBS_PER_AGENT) throw new ConfigError(`${from}: max jobs must be a whole number from 1 to ${MAX_JOBS_PER_AGENT} (got "${text}")`);
  return n;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4 };

/** A size in bytes: a whole number, or one with a binary unit (`512MiB`, `2G`, `64k`). */
export function parseByteSize(value: string | number, from: string): number {
  const text = String(value).trim();
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
  const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined;
  const n = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(n) || n < MIN_SPOOL_MAX_BYTES)
    throw new ConfigError(`${from}: the spool cap must be a size of at least ${MIN_SPOOL_MAX_BYTES / 1024} KiB, in bytes or with a unit such as 512MiB or 2GiB (got "${text}")`);
  return n;
}

export interface ResolveInput {
  flags: SettingFlags;
  env: NodeJS.ProcessEnv;
  isRoot: boolean;
  home: string;
  cwd: string;
  /** Reads the config file of the chosen state dir; injected so precedence can be tested without files. */
  readConfig: (path: string) => ConfigFile | null;
}

/** The state directory alone: flag, then env, then the default (it cannot come from a file inside it). */
export function resolveStateDir(flags: SettingFlags, env: NodeJS.ProcessEnv, isRoot: boolean, home: string, cwd: string): { stateDir: string; source: SettingSource } {
  const flag = nonEmpty(flags.stateDir);
  if (flag) return { stateDir: resolve(cwd, flag), source: 'flag' };
  const fromEnv = nonEmpty(env[ENV_VARS.stateDir]);
  if (fromEnv) return { stateDir: resolve(cwd, fromEnv), source: 'env' };
  return { stateDir: defaultStateDir(isRoot, home), source: 'default' };
}

/** Settings in precedence order: flags, then environment, then `<stateDir>/agent.json`, then defaults. */
export function resolveSettings(input: ResolveInput): AgentSettings {
  const { flags, env, cwd } = input;
  const { stateDir, source: stateDirSource } = resolveStateDir(flags, env, input.isRoot, input.home, cwd);
  const configPath = join(stateDir, CONFIG_FILE_NAME);
  const file = input.readConfig(configPath) ?? {};

  const pick = <T>(fromFlag: T | undefined, fromEnv: T | undefined, fromFile: T | undefined): { value: T; source: SettingSource } | null => {
    if (fromFlag !== undefined) return { value: fromFlag, source: 'flag' };
    if (fromEnv !== undefined) return { value: fromEnv, source: 'env' };
    if (fromFile !== undefined) return { value: fromFile, source: 'config' };
    return null;
  };

  const flagServers = flags.server?.length ? parseServerList(flags.server, '--server') : undefined;
  const envServers = nonEmpty(env[ENV_VARS.server]) ? parseServerList([env[ENV_VARS.server] as string], ENV_VARS.server) : undefined;
  const fileServers = file.server !== undefined ? parseServerList(Array.isArray(file.server) ? file.server : [file.server], `${configPath} "server"`) : undefined;
  const servers = pick(flagServers?.length ? flagServers : undefined, envServers?.length ? envServers : undefined, fileServers?.length ? fileServers : undefined);

  const token = pick(nonEmpty(flags.token), nonEmpty(env[ENV_VARS.token]), nonEmpty(file.token));
  const name = pick(nonEmpty(flags.name), nonEmpty(env[ENV_VARS.name]), nonEmpty(file.name));

  const flagTransport = nonEmpty(flags.transport);
  const envTransport = nonEmpty(env[ENV_VARS.transport]);
  const fileTransport = nonEmpty(file.transport);
  const transport = pick(
    flagTransport ? parseTransport(flagTransport, '--transport') : undefined,
    envTransport ? parseTransport(envTransport, ENV_VARS.transport) : undefined,
    fileTransport ? parseTransport(fileTransport, `${configPath} "transport"`) : undefined,
  ) ?? { value: 'auto' as TransportMode, source: 'default' as SettingSource };

  // A relative CA path in agent.json is relative to the state dir, elsewhere to the working directory.
  const caFlag = nonEmpty(flags.caFile);
  const caEnv = nonEmpty(env[ENV_VARS.caFile]);
  const caFileSetting = nonEmpty(file.caFile);
  const caFile = pick(
    caFlag ? resolve(cwd, caFlag) : undefined,
    caEnv ? resolve(cwd, caEnv) : undefined,
    caFileSetting ? (isAbsolute(caFileSetting) ? caFileSetting : resolve(stateDir, caFileSetting)) : undefined,
  );

  const flagMaxJobs = nonEmpty(flags.maxJobs);
  const envMaxJobs = nonEmpty(env[ENV_VARS.maxJobs]);
  const maxJobs = pick(
    flagMaxJobs ? parseMaxJobs(flagMaxJobs, '--max-jobs') : undefined,
    envMaxJobs ? parseMaxJobs(envMaxJobs, ENV_VARS.maxJobs) : undefined,
    file.maxJobs !== undefined ? parseMaxJobs(file.maxJobs, `${configPath} "maxJobs"`) : undefined,
  ) ?? { value: 1, source: 'default' as SettingSource };

  const flagSpool = nonEmpty(flags.spoolMaxBytes);
  const envSpool = nonEmpty(env[ENV_VARS.spoolMaxBytes]);
  const spoolMaxBytes = pick(
    flagSpool ? parseByteSize(flagSpool, '--spool-max-bytes') : undefined,
    envSpool ? parseByteSize(envSpool, ENV_VARS.spoolMaxBytes) : undefined,
    file.spoolMaxBytes !== undefined ? parseByteSize(file.spoolMaxBytes, `${configPath} "spoolMaxBytes"`) : undefined,
  ) ?? { value: DEFAULT_SPOOL_MAX_BYTES, source: 'default' as SettingSource };

  return {
    stateDir,
    servers: servers?.value ?? [],
    token: token?.value ?? null,
    name: name?.value ?? null,
    transport: transport.value,
    caFile: caFile?.value ?? null,
    maxJobs: maxJobs.value,
    spoolMaxBytes: spoolMaxBytes.value,
    sources: {
      stateDir: stateDirSource,
      servers: servers?.source ?? null,
      token: token?.source ?? null,
      name: name?.source ?? null,
      transport: transport.source,
      caFile: caFile?.source ?? null,
      maxJobs: maxJobs.source,
      spoolMaxBytes: spoolMaxBytes.source,
    },
  };
}

/** The process's own view: real environment, home and user. */
export function resolveSettingsFromProcess(flags: SettingFlags, env: NodeJS.ProcessEnv = process.env): AgentSettings {
  return resolveSettings({ flags, env, isRoot: process.getuid?.() === 0, home: homedir(), cwd: process.cwd(), readConfig: readConfigFile });
}
