import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadPort } from './agent-process';
import { ROOT, waitFor } from './control-plane-process';

// The programs of a corporate network, for the tests that put an agent behind them: a private CA,
// nginx running the reference configuration (docs/nginx/corral.conf) in front of the control
// plane, and squid as the HTTPS_PROXY asking for credentials. Everything listens on 127.0.0.1 only.

export const REFERENCE_CONFIG = join(ROOT, 'docs', 'nginx', 'corral.conf');
export const PROXY_USER = 'corral';
// ":" and "@" must be percent-encoded in the proxy URL: the agent has to decode them.
export const PROXY_PASSWORD = 'pa:ss@word-1';

/** A Debian tool found (or installed, as root) by its scripts/find-*.sh. */
export function tool(script: string): string {
  try {
    return execFileSync('bash', [join(ROOT, 'scripts', script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim();
  } catch {
    throw new Error(`a tool for the corporate-network tests is missing: see the message above (scripts/${script})`);
  }
}

export function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true))).on('error', () => resolve(false));
  });
}

/** A program of the test's own (nginx, squid), with its stderr kept for failure messages. */
function daemon(path: string, args: string[]) {
  const child: ChildProcess = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  return {
    output: () => output,
    async waitListening(port: number, what: string, log: () => string) {
      await waitFor(
        `${what} listening on 127.0.0.1:${port}`,
        async () => {
          if (exitCode !== undefined) throw Object.assign(new Error(`${what} exited with ${exitCode}:\n${output}\n${log()}`), { fatal: true });
          return listening(port);
        },
        15_000,
      );
    },
    async stop() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

// --- a private CA -------------------------------------------------------------------------------

export interface Pki {
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: string;
}

/** A CA of the test's own and a server certificate it signed for 127.0.0.1 and localhost. */
export function makePki(dir: string): Pki {
  const path = tool('find-openssl.sh');
  const openssl = (...args: string[]) => execFileSync(path, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Corral test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  return { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key'), ca: readFileSync(join(dir, 'ca.pem'), 'utf8') };
}

// --- nginx with the reference configuration -----------------------------------------------------

interface Installation {
  listen: string;
  serverName: string;
  certificate: string;
  certificateKey: string;
  /** One upstream `server` line per node, as the file's comment says. */
  upstreams: string[];
}

// The directives a reader of docs/nginx/corral.conf is told to edit (its "EDIT" lines), and the
// values of this installation that replace each one's first argument.
export const EDITS: { directive: string; values: (i: Installation) => string[] }[] = [
  { directive: 'server', values: (i) => i.upstreams },
  { directive: 'listen', values: (i) => [i.listen] },
  { directive: 'server_name', values: (i) => [i.serverName] },
  { directive: 'ssl_certificate', values: (i) => [i.certificate] },
  { directive: 'ssl_certificate_key', values: (i) => [i.certificateKey] },
];

const EDIT_LINE = /^(\s*)([a-z_]+)\s+(\S+?)(;|\s)(.*#\s*EDIT\b.*)$/;

/** The reference configuration with this installation's values on its EDIT lines, and nothing else changed. */
export function renderReference(reference: string, installation: Installation): string {
  const edited = new Set<string>();
  const lines = reference.split('\n').flatMap((line) => {
    if (!/#\s*EDIT\b/.test(line)) return [line];
    const match = EDIT_LINE.exec(line);
    const edit = match && EDITS.find((e) => e.directive === match[2]);
    if (!match || !edit) throw new Error(`docs/nginx/corral.conf has an EDIT line the test does not know: ${line.trim()}`);
    if (edited.has(edit.directive)) throw new Error(`docs/nginx/corral.conf has two EDIT lines for ${edit.directive}`);
    edited.add(edit.directive);
    return edit.values(installation).map((value) => `${match[1]}${match[2]} ${value}${match[4]}${match[5]}`);
  });
  const missing = EDITS.filter((e) => !edited.has(e.directive)).map((e) => e.directive);
  if (missing.length) throw new Error(`docs/nginx/corral.conf has no EDIT line for ${missing.join(', ')}`);
  return lines.join('\n');
}

/**
 * What differs between the reference and a rendered configuration, line by line: nothing but
 * EDIT lines whose first argument changed (the upstream one repeated once per node).
 */
export function differences(reference: string, rendered: string): string[] {
  const out: string[] = [];
  const mine = rendered.split('\n');
  let at = 0;
  for (const line of reference.split('\n')) {
    const match = EDIT_LINE.exec(line);
    if (!match) {
      if (mine[at] !== line) out.push(`line ${at + 1}: expected ${JSON.stringify(line)}, got ${JSON.stringify(mine[at])}`);
      at++;
      continue;
    }
    // An EDIT line: the same directive and the same rest, only the value differs, on one line or more.
    const same = (candidate: string | undefined) => {
      const m = candidate === undefined ? null : EDIT_LINE.exec(candidate);
      return m !== null && m[1] === match[1] && m[2] === match[2] && m[4] === match[4] && m[5] === match[5];
    };
    if (!same(mine[at])) out.push(`line ${at + 1}: expected the EDIT line ${JSON.stringify(line.trim())} with another value, got ${JSON.stringify(mine[at])}`);
    at++;
    while (match[2] === 'server' && same(mine[at])) at++;
  }
  if (at !== mine.length) out.push(`${mine.length - at} extra line(s) at the end`);
  return out;
}

export interface Nginx {
  /** The reference server: https, the certificate of the private CA. */
  url: string;
  port: number;
  /** A plain reverse proxy of the kind that does not pass WebSocket upgrades. */
  legacyUrl: string;
  rendered: string;
  accessLog: () => string;
  stop: () => Promise<void>;
}

/**
 * nginx on loopback: a top-level nginx.conf of the test's own (pid, logs and temp paths in a temp
 * directory) that includes the reference configuration, and beside it a legacy reverse proxy.
 */
export async function startNginx(pki: Pki, upstreams: string[]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-nginx-'));
  const [port, legacyPort] = [await deadPort(), await deadPort()];
  const rendered = renderReference(readFileSync(REFERENCE_CONFIG, 'utf8'), {
    listen: `127.0.0.1:${port}`,
    serverName: 'localhost',
    certificate: pki.certFile,
    certificateKey: pki.keyFile,
    upstreams: upstreams.map((u) => new URL(u).host),
  });
  writeFileSync(join(dir, 'corral.conf'), rendered);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  log_format corral '$server_port $request_method $uri $status $upstream_addr';
  access_log ${dir}/access.log corral;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  include ${dir}/corral.conf;

  # A reverse proxy set up before anyone thought of WebSocket: HTTP/1.0 upstream, and the
  # hop-by-hop Upgrade and Connection headers dropped, as nginx does unless told otherwise.
  server {
    listen 127.0.0.1:${legacyPort};
    location / { proxy_pass ${upstreams[0]}; }
  }
}
`,
  );
  const nginx = daemon(tool('find-nginx.sh'), ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')]);
  const errors = () => readOr(join(dir, 'error.log'));
  await nginx.waitListening(port, 'nginx', errors);
  await nginx.waitListening(legacyPort, 'nginx', errors);
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    legacyUrl: `http://127.0.0.1:${legacyPort}`,
    rendered,
    accessLog: () => readOr(join(dir, 'access.log')),
    stop: async () => {
      await nginx.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- squid as the corporate forward proxy -------------------------------------------------------

export interface Squid {
  port: number;
  /** The proxy URL with these credentials in it, percent-encoded. */
  url: (user: string, password: string) => string;
  accessLog: () => string;
  stop: () => Promise<void>;
}

/**
 * squid in the foreground on loopback with a config of its own (no cache, every file in a temp
 * directory), asking for basic credentials checked by basic_ncsa_auth against an htpasswd file,
 * and tunnelling (CONNECT) to 127.0.0.1 only.
 */
export async function startSquid(): Promise<Squid> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-squid-'));
  const port = await deadPort();
  execFileSync(tool('find-htpasswd.sh'), ['-b', '-c', '-B', join(dir, 'passwd'), PROXY_USER, PROXY_PASSWORD], { stdio: ['ignore', 'pipe', 'pipe'] });
  const squidPath = tool('find-squid.sh');
  // Debian's squid package ships the helper beside its other helpers.
  const helper = '/usr/lib/squid/basic_ncsa_auth';
  if (!existsSync(helper)) throw new Error(`${helper} is missing: it comes with Debian's squid package (scripts/find-squid.sh)`);
  // Started as root, squid drops to cache_effective_user right away: that user must be able to
  // write its logs and read the password file.
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    join(dir, 'squid.conf'),
    `http_port 127.0.0.1:${port}
${asRoot ? 'cache_effective_user proxy\n' : ''}pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
logformat corral %rm %ru %un %Ss/%>Hs
access_log stdio:${dir}/access.log logformat=corral
cache_store_log none
cache deny all
cache_mem 8 MB
coredump_dir ${dir}
netdb_filename none
pinger_enable off
digest_generation off
# Nothing is resolved (the targets are addresses); keep even the DNS client socket on loopback.
dns_nameservers 127.0.0.1
udp_incoming_address 127.0.0.1
shutdown_lifetime 0 seconds
auth_param basic program ${helper} ${dir}/passwd
auth_param basic children 2
auth_param basic realm Corral test proxy
acl authenticated proxy_auth REQUIRED
acl loopback_target dst 127.0.0.1
http_access deny !loopback_target
http_access allow authenticated
http_access deny all
`,
  );
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'proxy'], { encoding: 'utf8' }).trim()));
    for (const name of ['', ...readdirSync(dir)]) chownSync(join(dir, name), uid, gid);
  }
  const squid = daemon(squidPath, ['-N', '-f', join(dir, 'squid.conf')]);
  await squid.waitListening(port, 'squid', () => readOr(join(dir, 'cache.log')));
  return {
    port,
    url: (user, password) => `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    accessLog: () => readOr(join(dir, 'access.log')),
    stop: async () => {
      await squid.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
