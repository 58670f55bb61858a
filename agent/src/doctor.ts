import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { AGENT_PATHS, WhoAmIResponseSchema } from '../../src/protocol/messages';
import type { CommandContext } from './command-context';
import { readConfigFile, resolveSettings, type SettingFlags } from './config';
import { AgentError, messageOf, networkHint } from './errors';
import { HttpClient } from './http-client';
import { describePolicy, loadPolicy } from './policy';
import { openTunnel, redactProxyUrl } from './proxy-agent';
import { StateStore, type Identity } from './state-store';

// Beyond this the control plane may refuse signed requests; well before it, logs stop lining up.
const MAX_SKEW_MS = 30_000;
const STEP_TIMEOUT_MS = 10_000;

export interface CheckResult {
  name: string;
  outcome: 'ok' | 'FAIL' | 'skip';
  detail: string;
}

function ok(name: string, detail: string): CheckResult {
  return { name, outcome: 'ok', detail };
}
function fail(name: string, detail: string): CheckResult {
  return { name, outcome: 'FAIL', detail };
}
function skip(name: string, detail: string): CheckResult {
  return { name, outcome: 'skip', detail };
}

function errorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const message = messageOf(err);
  return `${code && !message.includes(code) ? `${code} ` : ''}${message}${networkHint(code)}`;
}

function connectTcp(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(STEP_TIMEOUT_MS, () => {
      const err = new Error(`no answer within ${STEP_TIMEOUT_MS / 1000} s`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      socket.destroy(err);
    });
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function handshake(host: string, port: number, ca: string[] | undefined, socket?: Duplex): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ host, port, socket, servername: net.isIP(host) ? undefined : host, ca, rejectUnauthorized: true });
    secure.setTimeout(STEP_TIMEOUT_MS, () => secure.destroy(Object.assign(new Error(`no TLS handshake within ${STEP_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    secure.once('secureConnect', () => {
      secure.setTimeout(0);
      resolve(secure);
    });
    secure.once('error', reject);
  });
}

async function checkServer(server: string, client: HttpClient, identity: Identity | null, store: StateStore): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const url = new URL(server);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'https:';
  const port = Number(url.port) || (secure ? 443 : 80);
  const proxy = client.proxyFor(url);

  // DNS: a proxy resolves the target itself, so a local failure then is only a remark.
  if (net.isIP(host)) results.push(skip('dns', `${host} is an IP address`));
  else {
    try {
      const addresses = await lookup(host, { all: true });
      results.push(ok('dns', `${host} resolves to ${addresses.map((a) => a.address).join(', ')}`));
    } catch (err) {
      if (proxy) results.push(ok('dns', `${host} does not resolve here (${(err as NodeJS.ErrnoException).code}); the proxy resolves it`));
      else results.push(fail('dns', `${host} does not resolve (${errorText(err)})`));
    }
  }

  // TCP: to the proxy when one applies, else to the server.
  const tcpHost = proxy ? proxy.hostname.replace(/^\[|\]$/g, '') : host;
  const tcpPort = proxy ? Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80) : port;
  let tcpOk = false;
  try {
    const started = Date.now();
    const socket = await connectTcp(tcpHost, tcpPort);
    socket.destroy();
    tcpOk = true;
    results.push(ok('tcp', `connected to ${proxy ? `proxy ${redactProxyUrl(proxy)}` : `${host}:${port}`} in ${Date.now() - started} ms`));
  } catch (err) {
    results.push(fail('tcp', `cannot connect to ${proxy ? `proxy ${redactProxyUrl(proxy)}` : `${host}:${port}`}: ${errorText(err)}`));
  }

  // Proxy: the CONNECT tunnel, when one applies.
  let tunnel: Duplex | undefined;
  if (!proxy) {
    const settings = client.proxySettings;
    const configured = secure ? settings.httpsProxy : settings.httpProxy;
    results.push(skip('proxy', configured ? `NO_PROXY exempts ${host}` : `no ${secure ? 'HTTPS_PROXY' : 'HTTP_PROXY'} set; connecting directly`));
  } else if (!tcpOk) results.push(skip('proxy', 'the proxy is unreachable (see tcp)'));
  else {
    try {
      tunnel = await openTunnel(proxy, host, port, { timeoutMs: STEP_TIMEOUT_MS, ca: client.ca });
      results.push(ok('proxy', `${redactProxyUrl(proxy)} tunnels to ${host}:${port}`));
    } catch (err) {
      results.push(fail('proxy', `${errorText(err)}; check HTTPS_PROXY/HTTP_PROXY and NO_PROXY, or ask the proxy's owner to allow ${host}:${port}`));
    }
  }

  // TLS: trust, name and expiry of the server's certificate.
  if (!secure) results.push(skip('tls', `${server} is plain http: traffic is not encrypted (use https in production)`));
  else if (!tcpOk || (proxy && !tunnel)) results.push(skip('tls', 'no connection to test it over (see above)'));
  else {
    try {
      const socket = await handshake(host, port, client.ca, tunnel);
      const cert = socket.getPeerCertificate();
      socket.destroy();
      const daysLeft = Math.floor((Date.parse(cert.valid_to) - Date.now()) / 86_400_000);
      const issuer = cert.issuer?.O ?? cert.issuer?.CN ?? 'unknown issuer';
      const detail = `certificate for ${host} is trusted, issued by ${issuer}, valid until ${new Date(cert.valid_to).toISOString().slice(0, 10)}`;
      results.push(daysLeft < 14 ? fail('tls', `${detail}: it expires in ${daysLeft} days; tell the control plane's operator`) : ok('tls', detail));
    } catch (err) {
      results.push(fail('tls', `handshake with ${host}:${port} failed: ${errorText(err)}`));
    }
  }
  tunnel?.destroy();

  // Clock: signed requests carry a timestamp the server checks.
  try {
    const { serverTime, sentAt, receivedAt } = await client.serverTime(server, STEP_TIMEOUT_MS);
    const skew = Math.round((sentAt + receivedAt) / 2 - serverTime);
    const words = `${Math.abs(skew / 1000).toFixed(1)} s ${skew >= 0 ? 'ahead of' : 'behind'} the server`;
    if (Math.abs(skew) > MAX_SKEW_MS) results.push(fail('clock', `this host's clock is ${words}: enable time sync (timedatectl set-ntp true, chrony or ntpd)`));
    else results.push(ok('clock', `this host's clock is ${words} (round trip ${receivedAt - sentAt} ms)`));
  } catch (err) {
    results.push(fail('clock', `cannot read the server's time: ${err instanceof AgentError ? err.message : errorText(err)}`));
  }

  // Authentication: one signed request with the agent's own key.
  if (!identity) results.push(fail('auth', `not enrolled (${store.identityPath} does not exist): run "corral-agent enroll --server URL --token TOKEN"`));
  else {
    try {
      const { key } = store.readPrivateKey();
      const json = await client.requestJson(server, { method: 'GET', path: AGENT_PATHS.whoami, signer: { agentId: identity.agentId, privateKey: key }, timeoutMs: STEP_TIMEOUT_MS }, 'whoami');
      const who = WhoAmIResponseSchema.safeParse(json);
      if (!who.success) results.push(fail('auth', `${server}${AGENT_PATHS.whoami} answered something that is not an agent`));
      else if (who.data.agentId !== identity.agentId) results.push(fail('auth', `the server answered for agent ${who.data.agentId}, not ${identity.agentId}`));
      else if (who.data.status === 'approved') results.push(ok('auth', `signed request accepted: agent "${who.data.name}" is approved`));
      else if (who.data.status === 'pending')
        results.push(ok('auth', `signed request accepted: agent "${who.data.name}" is pending approval (fingerprint ${identity.fingerprint}, code ${identity.verificationCode})`));
      else
        results.push(
          fail('auth', `agent "${who.data.name}" is ${who.data.status}: it will not be accepted again; remove ${store.identityPath} and ${store.keyPath} and enroll again with a new token`),
        );
    } catch (err) {
      results.push(fail('auth', err instanceof AgentError ? `${err.message}${err.code === 'CLOCK_SKEW' ? ' (fix the clock)' : ''}` : errorText(err)));
    }
  }
  return results;
}

/** `ok    dns      corral.example.com resolves to 203.0.113.5`; with several servers the detail names the server. */
export function formatCheck(result: CheckResult, server = ''): string {
  return `${result.outcome.padEnd(4)}  ${result.name.padEnd(8)} ${server ? `[${server}] ` : ''}${result.detail}`;
}

/** `corral-agent doctor`: one line per check, ok / FAIL / skip; exit 1 when any fails. */
export async function doctor(ctx: CommandContext, flags: SettingFlags): Promise<number> {
  const lines: CheckResult[] = [];
  const settings = resolveSettings({ flags, env: ctx.env, isRoot: ctx.isRoot, home: ctx.home, cwd: ctx.cwd, readConfig: readConfigFile });
  const store = new StateStore(settings.stateDir);
  let identity: Identity | null = null;
  try {
    identity = store.readIdentity();
    lines.push(
      identity
        ? ok('identity', `agent "${identity.name}" (${identity.agentId}), fingerprint ${identity.fingerprint}, in ${settings.stateDir}`)
        : fail('identity', `not enrolled: ${store.identityPath} does not exist`),
    );
    if (identity) {
      const { warning } = store.readPrivateKey();
      if (warning) lines.push(fail('key', warning));
    }
  } catch (err) {
    lines.push(fail('identity', (err as Error).message));
  }
  try {
    lines.push(ok('policy', describePolicy(loadPolicy(settings.stateDir, ctx.systemPolicyPath))));
  } catch (err) {
    lines.push(fail('policy', `${(err as Error).message} (the agent refuses to start until it is fixed)`));
  }
  for (const line of lines) ctx.stdout.write(`${formatCheck(line)}\n`);

  const servers = settings.servers.length ? settings.servers : (identity?.servers ?? []);
  if (!servers.length) {
    ctx.stdout.write(`${formatCheck(fail('server', 'no control-plane URL: pass --server URL or set CORRAL_SERVER'))}\n`);
    return 1;
  }
  let client: HttpClient;
  try {
    client = new HttpClient({ caFile: settings.caFile ?? identity?.caFile ?? null, env: ctx.env });
  } catch (err) {
    ctx.stdout.write(`${formatCheck(fail('ca', (err as Error).message))}\n`);
    return 1;
  }
  let failed = lines.some((l) => l.outcome === 'FAIL');
  try {
    for (const server of servers) {
      const prefix = servers.length > 1 ? new URL(server).host : '';
      if (!prefix) ctx.stdout.write(`${formatCheck(ok('server', server))}\n`);
      for (const result of await checkServer(server, client, identity, store)) {
        failed ||= result.outcome === 'FAIL';
        ctx.stdout.write(`${formatCheck(result, prefix)}\n`);
      }
    }
  } finally {
    client.close();
  }
  return failed ? 1 : 0;
}
