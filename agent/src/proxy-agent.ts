import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ConfigError } from './errors';

/** The proxy variables that apply to this process, lower-case first as curl reads them. */
export interface ProxySettings {
  httpProxy: string | null;
  httpsProxy: string | null;
  noProxy: string;
}

export function proxySettingsFromEnv(env: NodeJS.ProcessEnv): ProxySettings {
  const first = (...names: string[]) => names.map((n) => env[n]?.trim()).find((v) => v) ?? null;
  return {
    httpProxy: first('http_proxy', 'HTTP_PROXY'),
    httpsProxy: first('https_proxy', 'HTTPS_PROXY'),
    noProxy: first('no_proxy', 'NO_PROXY') ?? '',
  };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0;
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (net.isIPv4(ip) && net.isIPv4(base) && Number.isInteger(bits) && bits >= 0 && bits <= 32) {
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (ipv4ToInt(ip) & mask) === (ipv4ToInt(base) & mask);
  }
  return false;
}

/**
 * NO_PROXY as curl reads it: comma- or space-separated; `*` bypasses every host; an entry
 * matches the host itself and its subdomains (a leading `.` or `*.` changes nothing); an
 * optional `:port` limits it to that port; IPv4 CIDR blocks match addresses inside them.
 */
export function matchesNoProxy(hostname: string, port: number, noProxy: string): boolean {
  const host = stripBrackets(hostname.toLowerCase()).replace(/\.$/, '');
  for (const raw of noProxy
    .split(/[\s,]+/)
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean)) {
    if (raw === '*') return true;
    let entry = raw;
    let entryPort: number | null = null;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      entry = bracketed[1];
      entryPort = bracketed[2] ? Number(bracketed[2]) : null;
    } else if (!net.isIPv6(entry)) {
      const withPort = /^(.*):(\d+)$/.exec(entry);
      if (withPort) {
        entry = withPort[1];
        entryPort = Number(withPort[2]);
      }
    }
    if (entryPort !== null && entryPort !== port) continue;
    if (entry.includes('/')) {
      if (inCidr(host, entry)) return true;
      continue;
    }
    entry = entry.replace(/^\*/, '').replace(/^\./, '').replace(/\.$/, '');
    if (!entry) continue;
    if (host === entry || (!net.isIP(host) && host.endsWith(`.${entry}`))) return true;
  }
  return false;
}

function parseProxyUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new ConfigError(`proxy "${redactProxyUrl(value)}" is not a URL (expected http://proxy.example.com:3128)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`proxy ${redactProxyUrl(value)}: only http:// and https:// proxies are supported`);
  return url;
}

/** The proxy to use for a target URL, or null when none applies (unset, or NO_PROXY matches). */
export function proxyForUrl(target: URL, settings: ProxySettings): URL | null {
  const secure = target.protocol === 'https:' || target.protocol === 'wss:';
  const value = secure ? settings.httpsProxy : settings.httpProxy;
  if (!value) return null;
  const port = Number(target.port) || (secure ? 443 : 80);
  if (matchesNoProxy(target.hostname, port, settings.noProxy)) return null;
  return parseProxyUrl(value);
}

/** A proxy URL fit for a log line: credentials never leave the process. */
export function redactProxyUrl(value: string | URL): string {
  try {
    const url = typeof value === 'string' ? new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`) : new URL(value.href);
    url.username = '';
    url.password = '';
    return `${url.protocol}//${url.host}`;
  } catch {
    return '<unparseable proxy URL>';
  }
}

export interface TunnelOptions {
  timeoutMs?: number;
  ca?: string[]; // trusted roots for an https:// proxy
}

/** Opens a CONNECT tunnel through an HTTP(S) proxy to host:port; resolves with the raw socket. */
export function openTunnel(proxy: URL, host: string, port: number, options: TunnelOptions = {}): Promise<Duplex> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const proxyHost = stripBrackets(proxy.hostname);
  const proxyPort = Number(proxy.port) || (proxy.protocol === 'https:' ? 443 : 80);
  const target = stripBrackets(host);
  const authority = net.isIPv6(target) ? `[${target}]:${port}` : `${target}:${port}`;
  const label = redactProxyUrl(proxy);

  return new Promise((resolve, reject) => {
    const socket: net.Socket =
      proxy.protocol === 'https:'
        ? tls.connect({ host: proxyHost, port: proxyPort, servername: net.isIP(proxyHost) ? undefined : proxyHost, ca: options.ca })
        : net.connect({ host: proxyHost, port: proxyPort });
    let received = Buffer.alloc(0);
    let settled = false;

    const cleanup = () => {
      socket.removeListener('readable', onReadable);
      socket.removeListener('error', onError);
      socket.removeListener('end', onEnd);
      socket.setTimeout(0);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      const wrapped = new Error(`proxy ${label}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ')) as NodeJS.ErrnoException;
      wrapped.code = err.code;
      fail(wrapped);
    };
    const onEnd = () => fail(new Error(`proxy ${label} closed the connection before answering CONNECT ${authority}`));
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        received = Buffer.concat([received, chunk]);
        if (received.indexOf('\r\n\r\n') !== -1) break;
      }
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (received.length > 16 * 1024) fail(new Error(`proxy ${label} sent an oversized answer to CONNECT`));
        return;
      }
      const statusLine = received.subarray(0, end).toString('latin1').split('\r\n')[0];
      const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
      if (!match) return fail(new Error(`proxy ${label} answered CONNECT with something that is not HTTP`));
      const status = Number(match[1]);
      if (status !== 200) {
        const hint =
          status === 407
            ? proxy.username
              ? ` (the proxy refused the credentials of user "${decodeURIComponent(proxy.username)}" in the proxy URL: check the user name and password; percent-encode characters such as @ and : in them)`
              : ' (the proxy wants credentials: put them in the proxy URL, http://user:password@proxy:port)'
            : status === 403
              ? ` (the proxy does not allow ${authority})`
              : '';
        const err = new Error(`proxy ${label} refused CONNECT ${authority}: HTTP ${status} ${match[2]}${hint}`.trim()) as NodeJS.ErrnoException;
        err.code = `PROXY_${status}`;
        return fail(err);
      }
      settled = true;
      // Removing the 'readable' listener leaves the socket neither paused nor flowing, so its
      // next reader (TLS, or the HTTP parser) starts it as if it were fresh.
      cleanup();
      const rest = received.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      resolve(socket);
    };

    socket.on('readable', onReadable);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.setTimeout(timeoutMs, () => {
      const err = new Error(`proxy ${label} did not answer CONNECT ${authority} within ${Math.round(timeoutMs / 1000)} s`) as NodeJS.ErrnoException;
      err.code = 'ETIMEDOUT';
      fail(err);
    });
    const headers = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
    if (proxy.username || proxy.password) {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers.push(`Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}`);
    }
    socket.write(`${headers.join('\r\n')}\r\n\r\n`);
  });
}

type ConnectionCallback = (err: Error | null, stream: Duplex) => void;

interface TunnelAgentOptions {
  keepAlive?: boolean;
  ca?: string[];
  proxyCa?: string[];
  connectTimeoutMs?: number;
}

/** An http.Agent whose every connection is a CONNECT tunnel through the proxy (for http:// and ws:// targets). */
export class HttpTunnelAgent extends http.Agent {
  constructor(
    private readonly proxy: URL,
    private readonly tunnelOptions: TunnelAgentOptions = {},
  ) {
    super({ keepAlive: tunnelOptions.keepAlive ?? false });
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    openTunnel(this.proxy, String(options.hostname ?? options.host ?? 'localhost'), Number(options.port) || 80, {
      timeoutMs: this.tunnelOptions.connectTimeoutMs,
      ca: this.tunnelOptions.proxyCa,
    }).then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** An https.Agent that tunnels through the proxy, then speaks TLS to the target (for https:// and wss://). */
export class HttpsTunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    private readonly tunnelOptions: TunnelAgentOptions = {},
  ) {
    super({ keepAlive: tunnelOptions.keepAlive ?? false, ca: tunnelOptions.ca });
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const host = stripBrackets(String(options.hostname ?? options.host ?? 'localhost'));
    openTunnel(this.proxy, host, Number(options.port) || 443, {
      timeoutMs: this.tunnelOptions.connectTimeoutMs,
      ca: this.tunnelOptions.proxyCa,
    }).then(
      (socket) => {
        const secure = tls.connect({
          socket,
          servername: options.servername || (net.isIP(host) ? undefined : host),
          ca: this.tunnelOptions.ca,
          rejectUnauthorized: options.rejectUnauthorized !== false,
        });
        callback?.(null, secure);
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}
