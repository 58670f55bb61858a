import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadPort } from './helpers/agent-process';
import { ROOT, waitFor } from './helpers/control-plane-process';
import { uniqueEmail } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { startTestApp, type TestApp } from './helpers/test-app';

// Behind a real nginx, the client is the address nginx saw, whatever X-Forwarded-For a client sends.

/** Debian's nginx (installed on demand as root by scripts/find-nginx.sh). */
function nginxPath(): string {
  try {
    return execFileSync('bash', [join(ROOT, 'scripts', 'find-nginx.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim();
  } catch {
    throw new Error('no nginx for the reverse-proxy tests: see the message above (scripts/find-nginx.sh)');
  }
}

/** An nginx of this test's own on loopback, in front of `upstream`, appending the client to X-Forwarded-For as usual. */
async function startNginx(upstream: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'corral-nginx-'));
  const port = await deadPort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass ${upstream};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(nginxPath(), ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(
    `nginx listening on ${port} (${stderr})`,
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true))).on('error', () => resolve(false));
      }),
    10_000,
  );
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('behind nginx, with TRUST_PROXY=1', () => {
  let app: TestApp;
  let nginx: Awaited<ReturnType<typeof startNginx>>;
  beforeAll(async () => {
    app = await startTestApp({ TRUST_PROXY: '1', AUTH_RATE_LIMIT_PER_IP: '5', AUTH_RATE_LIMIT_PER_ACCOUNT: '100000' });
    nginx = await startNginx(app.url);
  });
  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
  });

  it('limits failed logins by the address nginx saw, whatever X-Forwarded-For the client sends', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await new HttpClient(nginx.url).post('/api/v1/auth/login', { email: uniqueEmail('nobody'), password: 'wrong password!' }, { 'x-forwarded-for': `203.0.113.${i + 1}` });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
  });
});
