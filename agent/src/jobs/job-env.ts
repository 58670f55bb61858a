import type { LocalPolicy } from '../../../src/protocol/messages';

/**
 * What a job's environment takes from the agent's: an allow-list, so the agent's own secrets
 * and configuration (its token, CORRAL_* settings, anything its service manager gave it) never
 * reach a script. A host's policy may name more (`jobEnvironment`).
 */
export const JOB_ENVIRONMENT = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TERM', 'TMPDIR', 'HOSTNAME'] as const;
const LOCALE = /^LC_[A-Z]+$/;
/** The agent's proxy settings are passed on, without their credentials unless the policy says `passProxyCredentials`. */
const PROXY = /^(https?_proxy|all_proxy|no_proxy)$/i;

/** The user and password of a proxy URL dropped; anything that is not a URL is left as it is (no_proxy lists). */
export function withoutCredentials(value: string): string {
  try {
    const url = new URL(value);
    if (!url.username && !url.password) return value;
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, value.endsWith('/') ? '/' : '');
  } catch {
    return value;
  }
}

export function jobEnvironment(agentEnv: NodeJS.ProcessEnv, policy: Pick<LocalPolicy, 'jobEnvironment' | 'passProxyCredentials'>): NodeJS.ProcessEnv {
  const named = new Set<string>([...JOB_ENVIRONMENT, ...(policy.jobEnvironment ?? [])]);
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(agentEnv)) {
    if (value === undefined) continue;
    if (named.has(name) || LOCALE.test(name)) env[name] = value;
    else if (PROXY.test(name)) env[name] = policy.passProxyCredentials ? value : withoutCredentials(value);
  }
  return env;
}
