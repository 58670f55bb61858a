import { hostname } from 'node:os';
import { fingerprintOf, generateAgentKeyPair, privateKeyFromPem, publicKeyFromRaw, rawPublicKey, verificationCodeOf, ENROLLMENT_SIGNER } from '../../src/protocol/identity';
import { AGENT_PATHS, EnrollRequestSchema, EnrollResponseSchema, type EnrollResponse, type LocalPolicy } from '../../src/protocol/messages';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { Backoff, sleep } from './backoff';
import type { CommandContext } from './command-context';
import { readConfigFile, resolveSettings, type AgentSettings, type SettingFlags } from './config';
import { AgentError, ConfigError } from './errors';
import { HttpClient } from './http-client';
import { hostFacts } from './host-facts';
import { loadPolicy } from './policy';
import { StateStore, type Identity } from './state-store';

// Enrollment is interactive: a few quick retries, then tell the operator instead of waiting.
const ENROLL_ROUNDS = 3;
const MAX_ENROLL_WAIT_MS = 60_000;

export interface EnrollFlags extends SettingFlags {
  json?: boolean;
  /** The fingerprint of a key the control plane signs with, from its install command. */
  serverKey?: string;
}

export interface EnrollResult {
  response: EnrollResponse;
  server: string;
  identity: Identity;
  stateDir: string;
  defaultStateDir: boolean;
}

function checkToken(token: string | null): string {
  if (!token) throw new ConfigError('an enrollment token is required: pass --token or set CORRAL_TOKEN (an administrator creates one in the Corral console)');
  const ok = EnrollRequestSchema.shape.token.safeParse(token);
  if (!ok.success) throw new ConfigError('the enrollment token is malformed: it starts with "crl_enr_" followed by 40 letters and digits; copy it again from the console');
  return token;
}

function checkName(settings: AgentSettings): string {
  const name = settings.name ?? hostname();
  const ok = EnrollRequestSchema.shape.name.safeParse(name);
  if (!ok.success) {
    const what = settings.name ? `"${name}"` : `the host name "${name}"`;
    throw new ConfigError(`${what} cannot be an agent name: use 1-100 letters, digits, ".", "_", "@" and "-"${settings.name ? '' : ' (pass --name NAME)'}`);
  }
  return ok.data;
}

/** The key to enroll: a new one, or the one an interrupted enrollment left behind (same fingerprint). */
function prepareKey(store: StateStore, ctx: CommandContext): { publicKey: string; privateKey: KeyObject } {
  if (store.hasPrivateKey()) {
    const { key, warning } = store.readPrivateKey();
    if (warning) ctx.logger.warn(warning);
    ctx.logger.info(`reusing the key in ${store.keyPath} from an earlier enrollment attempt`);
    return { publicKey: rawPublicKey(createPublicKey(key)), privateKey: key };
  }
  const pair = generateAgentKeyPair();
  store.writePrivateKey(pair.privateKeyPem);
  return { publicKey: pair.publicKey, privateKey: privateKeyFromPem(pair.privateKeyPem) };
}

function enrollError(error: AgentError): string {
  switch (error.code) {
    case 'ENROLLMENT_TOKEN_INVALID':
      return `the control plane does not know this enrollment token (${error.message}); check it, or ask an administrator for a new one`;
    case 'ENROLLMENT_TOKEN_EXPIRED':
      return `the enrollment token has expired (${error.message}); ask an administrator for a new one`;
    case 'ENROLLMENT_TOKEN_REVOKED':
      return `the enrollment token was revoked (${error.message}); ask an administrator for a new one`;
    case 'ENROLLMENT_TOKEN_USED_UP':
      return `the enrollment token has been used as often as it allows (${error.message}); ask an administrator for a new one`;
    case 'CLOCK_SKEW':
      return `the control plane refused the request because this host's clock is off (${error.message}); fix the clock (NTP, chrony or timedatectl) and enroll again`;
    case 'VALIDATION_FAILED':
      return `the control plane refused the enrollment request (${error.message})`;
    case 'TLS_CERTIFICATE':
    case 'PROXY_REFUSED':
      return `could not enroll: ${error.message}`;
    default:
      return error.message;
  }
}

// Not TLS_CERTIFICATE or PROXY_REFUSED: asking again gets the same answer until someone changes a setting.
function isTransient(error: AgentError): boolean {
  return error.code === 'NETWORK' || error.code === 'SERVER_ERROR' || error.code === 'RATE_LIMITED' || error.code === 'PROTOCOL_ERROR';
}

/** Sends the signed enrollment request, failing over between servers on network and server errors. */
async function sendEnrollment(ctx: CommandContext, client: HttpClient, servers: string[], body: string, privateKey: KeyObject): Promise<{ response: EnrollResponse; server: string }> {
  const backoff = new Backoff();
  const attempts = servers.length * ENROLL_ROUNDS;
  let last: AgentError | null = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const server = servers[attempt % servers.length];
    try {
      const json = await client.requestJson(server, { method: 'POST', path: AGENT_PATHS.enroll, body, signer: { agentId: ENROLLMENT_SIGNER, privateKey } }, 'enrollment');
      const parsed = EnrollResponseSchema.safeParse(json);
      if (!parsed.success) throw new AgentError('PROTOCOL_ERROR', `${server} answered the enrollment with something that is not an enrollment response`, 'fatal');
      return { response: parsed.data, server };
    } catch (err) {
      const error = err instanceof AgentError ? err : new AgentError('NETWORK', String(err), 'retryable');
      if (error.fatal || !isTransient(error)) throw new AgentError(error.code, enrollError(error), 'fatal');
      last = error;
      if (attempt === attempts - 1) break;
      const delay = backoff.next(error.retryAfterMs);
      if (delay > MAX_ENROLL_WAIT_MS) break;
      const next = servers[(attempt + 1) % servers.length];
      ctx.logger.warn(`enrollment with ${server} failed: ${error.message}; trying ${next === server ? 'again' : next} in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay);
    }
  }
  throw new AgentError(last?.code ?? 'NETWORK', `could not enroll: ${last ? enrollError(last) : 'no server answered'}`, 'fatal');
}

/** The pinned server key, if any: the flag, else CORRAL_SERVER_KEY. */
function pinnedServerKey(flags: EnrollFlags, env: NodeJS.ProcessEnv): string | null {
  const pin = (flags.serverKey ?? env.CORRAL_SERVER_KEY)?.trim();
  if (!pin) return null;
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(pin)) throw new ConfigError(`--server-key must be a key fingerprint like SHA256:ab12… (43 characters after "SHA256:"), not "${pin}"`);
  return pin;
}

/**
 * Checks that what the server recorded is this key, that its own keys are well-formed and, when
 * the install command pinned one, that the pinned key is among them: an answer from anyone else
 * (a proxy that terminates TLS, a look-alike host) would hand the agent keys of its own to trust.
 */
function checkResponse(response: EnrollResponse, publicKey: string, pinned: string | null) {
  const fingerprint = fingerprintOf(publicKey);
  if (response.fingerprint !== fingerprint || response.verificationCode !== verificationCodeOf(publicKey))
    throw new AgentError(
      'FINGERPRINT_MISMATCH',
      `the control plane recorded fingerprint ${response.fingerprint} (code ${response.verificationCode}), but this agent's key is ${fingerprint} (code ${verificationCodeOf(publicKey)}): something altered the enrollment on the way; do not approve it, and tell your security team`,
      'fatal',
    );
  for (const key of response.serverKeys) {
    try {
      publicKeyFromRaw(key.publicKey);
    } catch {
      throw new AgentError('PROTOCOL_ERROR', `server key "${key.keyId}" is not an Ed25519 public key`, 'fatal');
    }
    if (fingerprintOf(key.publicKey) !== key.fingerprint) throw new AgentError('PROTOCOL_ERROR', `server key "${key.keyId}" does not match its own fingerprint`, 'fatal');
  }
  if (pinned && !response.serverKeys.some((k) => k.fingerprint === pinned))
    throw new AgentError(
      'SERVER_KEY_MISMATCH',
      `the control plane answered with signing keys ${response.serverKeys.map((k) => k.fingerprint).join(', ')}, not ${pinned} that the install command pinned: something other than your control plane answered; nothing was saved, do not approve an agent of this host, and tell your security team`,
      'fatal',
    );
}

/** `corral-agent enroll`: a new key, a signed enrollment request, and the identity saved for `run`. */
export async function enroll(ctx: CommandContext, flags: EnrollFlags): Promise<EnrollResult> {
  const settings = resolveSettings({ flags, env: ctx.env, isRoot: ctx.isRoot, home: ctx.home, cwd: ctx.cwd, readConfig: readConfigFile });
  const store = new StateStore(settings.stateDir);
  const existing = store.readIdentity();
  if (existing)
    throw new ConfigError(
      `this host is already enrolled: ${store.identityPath} holds agent "${existing.name}" (${existing.agentId}). To start over, stop the agent, remove ${store.identityPath} and ${store.keyPath}, then enroll again; or pass --state-dir to keep a second identity elsewhere`,
    );
  if (!settings.servers.length) throw new ConfigError('a control-plane URL is required: pass --server URL or set CORRAL_SERVER');
  const token = checkToken(settings.token);
  const pinned = pinnedServerKey(flags, ctx.env);
  const name = checkName(settings);
  const policy: LocalPolicy = loadPolicy(settings.stateDir, ctx.systemPolicyPath);
  const client = new HttpClient({ caFile: settings.caFile, env: ctx.env });

  try {
    store.ensureDir();
    const { publicKey, privateKey } = prepareKey(store, ctx);
    ctx.logger.info(`enrolling as "${name}" with ${settings.servers.join(', ')} (${client.routeOf(new URL(settings.servers[0]))})`);
    const body = JSON.stringify(EnrollRequestSchema.parse({ token, publicKey, name, ...hostFacts(), policy }));
    const { response, server } = await sendEnrollment(ctx, client, settings.servers, body, privateKey);
    checkResponse(response, publicKey, pinned);

    const identity: Identity = {
      version: 1,
      agentId: response.agentId,
      name: response.name,
      servers: settings.servers,
      publicKey,
      fingerprint: response.fingerprint,
      verificationCode: response.verificationCode,
      serverKeys: response.serverKeys,
      caFile: settings.caFile,
      enrolledAt: new Date().toISOString(),
    };
    store.writeIdentity(identity);
    store.writeStatus({ status: response.status, statusReason: null, statusIssuedAt: null, transport: null, server, connected: false, lastError: null, pid: null });
    return { response, server, identity, stateDir: settings.stateDir, defaultStateDir: settings.sources.stateDir === 'default' };
  } finally {
    client.close();
  }
}

/** What `enroll` prints on stdout: the one JSON object with --json, else lines for a human. */
export function formatEnrollment(result: EnrollResult, json: boolean): string {
  const { response, server } = result;
  const runHint = `corral-agent run${result.defaultStateDir ? '' : ` --state-dir ${result.stateDir}`}`;
  if (json) return `${JSON.stringify({ agentId: response.agentId, fingerprint: response.fingerprint, verificationCode: response.verificationCode, status: response.status })}\n`;
  const lines = [
    `Enrolled with ${server} as agent "${response.name}" (status: ${response.status}).`,
    '',
    `  Agent ID           ${response.agentId}`,
    `  Fingerprint        ${response.fingerprint}`,
    `  Verification code  ${response.verificationCode}`,
    '',
    `Compare the fingerprint and verification code above with the ones the Corral console shows for "${response.name}" before approving it.`,
  ];
  if (response.conflictsWith)
    lines.push(`Note: the control plane already has an agent named "${response.name}" (${response.conflictsWith}); the console marks this enrollment as a conflict with it.`);
  lines.push(`Start the agent with: ${runHint}`);
  return `${lines.join('\n')}\n`;
}
