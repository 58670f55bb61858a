import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { JOB_KINDS, LocalPolicySchema, type LocalPolicy } from '../../src/protocol/messages';
import { policyRefusal, policyWhere } from '../../src/protocol/policy-check';
import { ConfigError } from './errors';

/** The host-wide policy file, owned by the sysadmin; a policy.json in the state dir wins over it. */
export const SYSTEM_POLICY_PATH = '/etc/corral/agent-policy.json';
export const POLICY_FILE_NAME = 'policy.json';

export const DEFAULT_POLICY: LocalPolicy = {
  source: 'default',
  allowedJobKinds: [...JOB_KINDS],
  allowScripts: true,
  runAs: null,
  allowedOrganizations: null,
  frozen: false,
};

// Strict: a misspelt key ("frozn": true) must not silently leave the host unprotected.
const PolicyFileSchema = z
  .object({
    allowedJobKinds: z.array(z.enum(JOB_KINDS, { error: `must be one of ${JOB_KINDS.join(', ')}` })).max(50),
    allowScripts: z.boolean(),
    runAs: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}\$?$/, 'must be a user name (lower-case letters, digits, "_" and "-")')
      .nullable(),
    allowedOrganizations: z.array(z.string().trim().min(1).max(100)).max(50).nullable(),
    frozen: z.boolean(),
    jobEnvironment: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,99}$/, 'must be environment variable names')).max(100),
    passProxyCredentials: z.boolean(),
  })
  .partial()
  .strict();

/** Parses a policy file's text; throws a ConfigError naming the file and every bad field. */
export function parsePolicy(text: string, source: string): LocalPolicy {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`local policy ${source} is not valid JSON (${(err as Error).message}); fix it or remove it`);
  }
  const parsed = PolicyFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${i.path.length ? i.path.join('.') : 'policy'}: ${i.message}`;
    });
    throw new ConfigError(
      `local policy ${source} is invalid: ${problems.join('; ')}. Allowed keys: allowedJobKinds, allowScripts, runAs, allowedOrganizations, frozen, jobEnvironment, passProxyCredentials`,
    );
  }
  const p = parsed.data;
  return LocalPolicySchema.parse({
    source,
    allowedJobKinds: p.allowedJobKinds ?? DEFAULT_POLICY.allowedJobKinds,
    allowScripts: p.allowScripts ?? DEFAULT_POLICY.allowScripts,
    runAs: p.runAs ?? null,
    allowedOrganizations: p.allowedOrganizations ?? null,
    frozen: p.frozen ?? false,
    ...(p.jobEnvironment ? { jobEnvironment: p.jobEnvironment } : {}),
    ...(p.passProxyCredentials !== undefined ? { passProxyCredentials: p.passProxyCredentials } : {}),
  });
}

/** The candidate files, most specific first. */
export function policyPaths(stateDir: string, systemPath = SYSTEM_POLICY_PATH): string[] {
  return [join(stateDir, POLICY_FILE_NAME), systemPath];
}

/**
 * Loads the first policy file that exists, or the defaults when none does. A file that the
 * agent's own user could rewrite is no veto at all, so one writable by group or others is refused.
 */
export function loadPolicy(stateDir: string, systemPath = SYSTEM_POLICY_PATH): LocalPolicy {
  for (const path of policyPaths(stateDir, systemPath)) {
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ConfigError(`cannot read local policy ${path}: ${(err as Error).message}`);
    }
    if (mode & 0o022) throw new ConfigError(`local policy ${path} is writable by group or others (mode ${(mode & 0o777).toString(8)}); run: chmod go-w ${path}`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read local policy ${path}: ${(err as Error).message}`);
    }
    return parsePolicy(text, path);
  }
  return { ...DEFAULT_POLICY, allowedJobKinds: [...DEFAULT_POLICY.allowedJobKinds] };
}

/**
 * A policy that refuses all work, for a policy file that cannot be used: `error` says why. It is
 * frozen and allows nothing as well, so that even a control plane that does not know `error`
 * offers this host nothing.
 */
export function unusablePolicy(source: string, error: string): LocalPolicy {
  return { source: source.slice(0, 500), allowedJobKinds: [], allowScripts: false, runAs: null, allowedOrganizations: [], frozen: true, error: error.slice(0, 1000) };
}

/**
 * The policy as it is now, for a running agent, which must never stop over it: a file that
 * cannot be used (unreadable, invalid, writable by others) becomes a policy refusing all work
 * until it is fixed. At startup `loadPolicy` is used instead, and such a file stops the agent.
 */
export function readPolicyNow(stateDir: string, systemPath = SYSTEM_POLICY_PATH): LocalPolicy {
  try {
    return loadPolicy(stateDir, systemPath);
  } catch (err) {
    const paths = policyPaths(stateDir, systemPath);
    return unusablePolicy(paths.find(present) ?? paths[0], (err as Error).message);
  }
}

/** Whether something is at `path` (an error other than "no such file" counts: that file is the one in the way). */
function present(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** One line for logs and `status`. */
export function describePolicy(policy: LocalPolicy): string {
  if (policy.error) return `INVALID, so no work will run: ${policy.error}`;
  const parts = [
    `job kinds ${policy.allowedJobKinds.join(', ') || 'none'}`,
    `scripts ${policy.allowScripts ? 'allowed' : 'forbidden'}`,
    `run as ${policy.runAs ?? 'the agent user'}`,
    `organisations ${policy.allowedOrganizations ? policy.allowedOrganizations.join(', ') || 'none' : 'any'}`,
  ];
  if (policy.frozen) parts.unshift('FROZEN (no work will run)');
  return `${policy.source === 'default' ? 'default policy (no policy file)' : policy.source}: ${parts.join('; ')}`;
}

/** A user from /etc/passwd, for the policy's `runAs`. */
export interface PasswdUser {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/** Looks a user up in /etc/passwd (users known only to LDAP or another NSS source are not found). */
export function lookupUser(name: string, passwdPath = '/etc/passwd'): PasswdUser | null {
  let text: string;
  try {
    text = readFileSync(passwdPath, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7 || fields[0] !== name) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
    return { user: name, uid, gid, home: fields[5] || '/' };
  }
  return null;
}

/** What the agent runs as, as far as the policy check is concerned. */
export interface HostUser {
  uid: number;
  name: string;
}

export type PolicyVerdict = { allowed: true; runAs: PasswdUser | null } | { allowed: false; message: string };

/**
 * The host's veto over one job: the rules (frozen, job kind, scripts, organisation) are the
 * protocol's `policyRefusal`, the same verdict the control plane reaches before it offers
 * anything; only the run-as user is checked here, since that needs this host's /etc/passwd.
 * `runAs` is the user to switch to, or null to run as the agent's own user.
 */
export function checkJobAgainstPolicy(policy: LocalPolicy, job: { kind: string; organizationId: string }, host: HostUser, passwdPath = '/etc/passwd'): PolicyVerdict {
  const refusal = policyRefusal(policy, job);
  if (refusal !== null) return { allowed: false, message: refusal };
  if (policy.runAs === null) return { allowed: true, runAs: null };
  const where = policyWhere(policy);
  const user = lookupUser(policy.runAs, passwdPath);
  if (!user) return { allowed: false, message: `"runAs": "${policy.runAs}" in ${where} names a user that does not exist on this host (${passwdPath})` };
  if (user.uid === host.uid) return { allowed: true, runAs: null };
  if (host.uid !== 0) return { allowed: false, message: `"runAs": "${policy.runAs}" in ${where} needs the agent to run as root to switch users (it runs as ${host.name})` };
  return { allowed: true, runAs: user };
}
