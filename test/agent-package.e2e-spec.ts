import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentProcess, approve, enrollmentToken, removeTempDirs, tempDir, type Enrolled } from './helpers/agent-process';
import { ROOT, waitFor } from './helpers/control-plane-process';
import { makePki, type Nginx, type Pki, PROXY_PASSWORD, PROXY_USER, startNginx, startSquid, type Squid } from './helpers/corporate-network';
import { signUp, type SignedUp } from './helpers/factories';
import { startTestApp, type TestApp } from './helpers/test-app';

// The packaged agent (`npm run package:agent`) as a sysadmin gets it: the single executable, its
// checksums, the .deb and its systemd unit, and, when this runs as root, the .deb installed on
// this very host, enrolled as its service user, running a job through nginx (TLS with a private
// CA) and squid (basic auth), as on a corporate network.

const exec = promisify(execFile);
const PACKAGES = join(ROOT, 'agent', 'dist', 'packages');
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'agent', 'package.json'), 'utf8')).version;
const BINARY_NAME = `corral-agent-${VERSION}-linux-x64`;
const DEB_NAME = `corral-agent_${VERSION}_amd64.deb`;
const BINARY = join(PACKAGES, BINARY_NAME);
const DEB = join(PACKAGES, DEB_NAME);
const STATE_DIR = '/var/lib/corral-agent';

// Installing touches this host: only as root, and never over a corral-agent someone installed.
const alreadyInstalled = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'corral-agent'], { encoding: 'utf8' }).stdout?.includes('installed') ?? false;
const installSkipped = process.getuid?.() !== 0 ? 'needs root' : alreadyInstalled ? 'corral-agent is already installed on this host and is left alone' : null;

// As test/helpers/agent-process.ts: nothing from the runner's environment may steer the agent.
const INHERITED_SETTINGS = /^(https?_proxy|no_proxy|all_proxy|corral_.*|notify_socket)$/i;
const live = new Set<AgentProcess>();

/** `command args` with a clean environment plus `env`, its output collected like the bundle's. */
function start(command: string, args: string[], env: Record<string, string> = {}): AgentProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !INHERITED_SETTINGS.test(k))) as Record<string, string>;
  const child = spawn(command, args, { cwd: '/', env: { ...base, CORRAL_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const agent = new AgentProcess(child, [command, ...args]);
  live.add(agent);
  void agent.exited.then(() => live.delete(agent));
  return agent;
}

async function finished(agent: AgentProcess, timeoutMs = 20_000): Promise<AgentProcess> {
  await agent.waitForExit(timeoutMs);
  return agent;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** `enroll --json` with the given program, as the operator types it; the identity it printed. */
async function enroll(owner: SignedUp, server: string, program: string[], stateDir: string, env: Record<string, string> = {}): Promise<Enrolled> {
  const name = `pkg-${Math.random().toString(36).slice(2, 8)}`;
  const token = await enrollmentToken(owner);
  const [command, ...prefix] = program;
  const done = await finished(start(command, [...prefix, 'enroll', '--server', server, '--token', token, '--name', name, '--state-dir', stateDir, '--json'], env));
  if (done.exitCode !== 0) throw new Error(`enroll failed\n${done.describe()}`);
  return { stateDir, name, log: done.stderr, ...JSON.parse(done.stdout) };
}

interface Task {
  id: string;
  state: string;
}

/** Runs a script on the agent and waits until the task has ended; its state and log. */
async function runScript(owner: SignedUp, agentId: string, syntax: 'bash' | 'node', body: string): Promise<{ state: string; log: string }> {
  const res = await owner.client.post('/api/v1/tasks', { targets: { agentIds: [agentId] }, script: { syntax, body } });
  if (res.status !== 201) throw new Error(`task: ${res.status} ${res.text}`);
  const task = await waitFor(`task ${res.body.id} to end`, async () => {
    const now: Task = (await owner.client.get(`/api/v1/tasks/${res.body.id}`)).body;
    return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(now.state) ? now : undefined;
  });
  return { state: task.state, log: (await owner.client.get(`/api/v1/tasks/${task.id}/log`)).text };
}

/** Processes whose program is `path` (what postinst might have started). */
function processesOf(path: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`) === path;
      } catch {
        return false; // gone, or not ours to look at
      }
    })
    .map(Number);
}

function dpkg(args: string[]) {
  const result = spawnSync('dpkg', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

afterEach(async () => {
  // runuser passes SIGTERM on to the agent; SIGKILL would leave the agent behind it running.
  await Promise.all([...live].map((a) => a.stop('SIGTERM', 15_000)));
});
afterAll(() => removeTempDirs());

describe('the packaged agent', () => {
  beforeAll(async () => {
    // The bundle is the one `npm run build` made (other test files run it: it is not rewritten here).
    await exec(process.execPath, [join(ROOT, 'scripts', 'package-agent.mjs'), '--if-changed', '--no-build'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  }, 150_000);

  it('SHA256SUMS holds the checksum of the executable and of the .deb, in sha256sum format', () => {
    const lines = readFileSync(join(PACKAGES, 'SHA256SUMS'), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual([`${sha256(BINARY)}  ${BINARY_NAME}`, `${sha256(DEB)}  ${DEB_NAME}`]);
    expect(spawnSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: PACKAGES, encoding: 'utf8' }).stdout).toBe(`${BINARY_NAME}: OK\n${DEB_NAME}: OK\n`);
  });

  it('the executable runs by itself: --version and --help', async () => {
    expect(statSync(BINARY).mode & 0o777).toBe(0o755);
    const version = await exec(BINARY, ['--version'], { env: { PATH: '/usr/bin:/bin' } });
    expect(version).toEqual({ stdout: `corral-agent ${VERSION}\n`, stderr: '' });
    const help = await exec(BINARY, ['--help'], { env: { PATH: '/usr/bin:/bin' } });
    expect(help.stdout).toContain('corral-agent enroll --server URL --token TOKEN');
    expect(help.stdout).toContain('--log-format FORMAT');
    expect(help.stderr).toBe('');
  });

  it('the .deb installs the executable, the unit and the settings file, root-owned, with their modes, and the scripts that make its user', async () => {
    const info = (await exec('dpkg-deb', ['--info', DEB])).stdout;
    expect(info).toMatch(/^ Package: corral-agent$/m);
    expect(info).toMatch(new RegExp(`^ Version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    expect(info).toMatch(/^ Architecture: amd64$/m);
    expect(info).toMatch(/^ Depends: adduser, /m);
    // dpkg-deb marks executable control files with "*".
    for (const script of ['postinst', 'prerm', 'postrm']) expect(info).toMatch(new RegExp(`^ +\\d+ bytes, +\\d+ lines +\\* +${script} +#!/bin/sh$`, 'm'));
    expect((await exec('dpkg-deb', ['--info', DEB, 'conffiles'])).stdout).toBe('/etc/default/corral-agent\n');

    const listing = (await exec('dpkg-deb', ['--contents', DEB])).stdout.trim().split('\n');
    const entries = new Map(
      listing.map((line) => {
        const [mode, owner, , , , path] = line.split(/\s+/);
        return [path, { mode, owner }];
      }),
    );
    expect([...entries.values()].every((e) => e.owner === 'root/root')).toBe(true);
    expect([...entries].filter(([path]) => path.endsWith('/')).every(([, e]) => e.mode === 'drwxr-xr-x')).toBe(true);
    expect(Object.fromEntries([...entries].filter(([path]) => !path.endsWith('/')).map(([path, e]) => [path, e.mode]))).toEqual({
      './usr/bin/corral-agent': '-rwxr-xr-x',
      './lib/systemd/system/corral-agent.service': '-rw-r--r--',
      './etc/default/corral-agent': '-rw-r-----',
      './usr/share/doc/corral-agent/README.md': '-rw-r--r--',
    });
    // The state directory is made by postinst, owned by the service user: dpkg never owns it.
    expect(entries.has('./var/lib/corral-agent/')).toBe(false);
  });

  it('systemd-analyze verify accepts the agent unit and the control-plane unit without a warning', async () => {
    // A root holding both units and what they name: the package's files, the system's targets
    // and a stand-in /usr/bin/node (verify checks that ExecStart= is there and executable).
    const root = tempDir('corral-units-');
    await exec('dpkg-deb', ['-x', DEB, root]);
    mkdirSync(join(root, 'usr', 'lib', 'systemd', 'system'), { recursive: true });
    for (const unit of readdirSync('/usr/lib/systemd/system').filter((u) => u.endsWith('.target')))
      copyFileSync(join('/usr/lib/systemd/system', unit), join(root, 'usr', 'lib', 'systemd', 'system', unit));
    mkdirSync(join(root, 'etc', 'systemd', 'system'), { recursive: true });
    copyFileSync(join(ROOT, 'deploy', 'systemd', 'corral.service'), join(root, 'etc', 'systemd', 'system', 'corral.service'));
    writeFileSync(join(root, 'usr', 'bin', 'node'), '#!/bin/sh\n');
    chmodSync(join(root, 'usr', 'bin', 'node'), 0o755);

    for (const unit of ['/lib/systemd/system/corral-agent.service', '/etc/systemd/system/corral.service']) {
      const verified = spawnSync('systemd-analyze', ['verify', `--root=${root}`, unit], { encoding: 'utf8' });
      expect({ unit, status: verified.status, output: `${verified.stdout}${verified.stderr}` }).toEqual({ unit, status: 0, output: '' });
    }
    const agentUnit = readFileSync(join(root, 'lib', 'systemd', 'system', 'corral-agent.service'), 'utf8');
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'User=corral-agent',
      'Environment=CORRAL_STATE_DIR=/var/lib/corral-agent',
      'ReadWritePaths=/var/lib/corral-agent',
      'ProtectSystem=strict',
    ])
      expect(agentUnit.split('\n')).toContain(line);
    expect(agentUnit).not.toMatch(/^MemoryDenyWriteExecute=/m);
  });

  describe('against a control plane', () => {
    let app: TestApp;
    let owner: SignedUp;
    beforeAll(async () => {
      app = await startTestApp();
      owner = await signUp(app);
    });
    afterAll(() => app?.close());

    it('the executable enrolls, connects over WebSocket, tells systemd once it is ready, logs JSON and runs bash and node jobs', async () => {
      const agent = await enroll(owner, app.url, [BINARY], join(tempDir('corral-sea-'), 'state'), { HOME: tempDir('corral-sea-home-'), CORRAL_LOG_FORMAT: 'json' });
      const enrollLog = agent.log.trim().split('\n');
      expect(enrollLog.length).toBeGreaterThan(0);
      for (const line of enrollLog) expect(Object.keys(JSON.parse(line))).toEqual(['time', 'level', 'msg']);
      await approve(owner, agent);

      // systemd-notify's stand-in writes its arguments to the "socket", one call a line.
      const bin = tempDir('corral-notify-');
      writeFileSync(join(bin, 'systemd-notify'), '#!/bin/sh\nprintf \'%s\\n\' "$*" >> "$NOTIFY_SOCKET"\n');
      chmodSync(join(bin, 'systemd-notify'), 0o755);
      const notifications = join(bin, 'notifications');
      const run = start(BINARY, ['run', '--state-dir', agent.stateDir, '--transport', 'ws', '--log-format', 'json'], {
        HOME: tempDir('corral-sea-home-'),
        PATH: `${bin}:${process.env.PATH}`,
        NOTIFY_SOCKET: notifications,
      });
      await run.waitForOutput(/approved: agent/);
      const connected = `connected over WebSocket to ${app.url}`;
      const said = () => (existsSync(notifications) ? readFileSync(notifications, 'utf8').split('\n').filter(Boolean) : []);
      await waitFor('systemd to hear the agent is approved', () => said().includes(`--status=${connected}; approved, taking work`), 5_000);

      const bash = await runScript(owner, agent.agentId, 'bash', 'echo "bash says $((6 * 7))"');
      expect(bash).toEqual({ state: 'succeeded', log: expect.stringContaining('bash says 42\n') });
      // The executable is the only Node.js here: node scripts run on the one built into it.
      const node = await runScript(owner, agent.agentId, 'node', 'console.log(`node ${process.version} says ${6 * 7}`, require.main === module)');
      expect(node).toEqual({ state: 'succeeded', log: expect.stringContaining(`node ${process.version} says 42 true\n`) });

      await run.stop('SIGTERM');
      expect(run.exitCode).toBe(0);
      const lines = said();
      expect(lines[0]).toBe('--status=connecting');
      expect(lines.filter((l) => l.startsWith('--ready'))).toEqual([expect.stringMatching(new RegExp(`^--ready --status=${connected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; `))]);
      expect(lines[lines.length - 1]).toBe('--status=stopped');
      const logged = run.stderr.trim().split('\n');
      expect(logged.length).toBeGreaterThan(3);
      for (const line of logged) expect(Object.keys(JSON.parse(line))).toEqual(['time', 'level', 'msg']);
    });

    (installSkipped ? describe.skip : describe)(`installed from the .deb on this host${installSkipped ? ` (skipped: ${installSkipped})` : ''}`, () => {
      let pki: Pki;
      let nginx: Nginx;
      let squid: Squid;
      beforeAll(async () => {
        // The service user reads the CA bundle, as it would one under /etc/ssl.
        const dir = tempDir('corral-pki-');
        chmodSync(dir, 0o755);
        pki = makePki(dir);
        [nginx, squid] = await Promise.all([startNginx(pki, [app.url]), startSquid()]);
      }, 120_000);
      afterAll(async () => {
        if (spawnSync('dpkg-query', ['-W', 'corral-agent']).status === 0) dpkg(['--purge', 'corral-agent']);
        await Promise.all([nginx?.stop(), squid?.stop()]);
      });

      it('dpkg -i creates the corral-agent user and its 0700 state directory, starts nothing and says how to enroll', () => {
        const installed = dpkg(['-i', DEB]);
        expect(installed).toMatchObject({ status: 0 });
        expect(installed.output).toContain('not enrolled, so it was not started');
        expect(installed.output).toContain('sudo -u corral-agent corral-agent enroll --state-dir /var/lib/corral-agent --server');
        expect(installed.output).toContain('sudo systemctl enable --now corral-agent');

        const [, , uid, gid, , home, shell] = spawnSync('getent', ['passwd', 'corral-agent'], { encoding: 'utf8' }).stdout.trim().split(':');
        expect({ home, shell }).toEqual({ home: STATE_DIR, shell: '/usr/sbin/nologin' });
        expect(spawnSync('getent', ['group', 'corral-agent'], { encoding: 'utf8' }).stdout).toMatch(new RegExp(`^corral-agent:x:${gid}:`));
        const state = statSync(STATE_DIR);
        expect({ mode: state.mode & 0o777, uid: state.uid, gid: state.gid }).toEqual({ mode: 0o700, uid: Number(uid), gid: Number(gid) });
        const settings = statSync('/etc/default/corral-agent');
        expect({ mode: settings.mode & 0o777, uid: settings.uid, gid: settings.gid }).toEqual({ mode: 0o640, uid: 0, gid: Number(gid) });
        expect(statSync('/usr/bin/corral-agent').mode & 0o777).toBe(0o755);
        expect(existsSync('/etc/systemd/system/multi-user.target.wants/corral-agent.service')).toBe(false);
        expect(processesOf('/usr/bin/corral-agent')).toEqual([]);
      });

      it('enrolled as corral-agent into /var/lib/corral-agent through nginx and squid, the installed agent runs a job as that user', async () => {
        const asService = ['runuser', '-u', 'corral-agent', '--', '/usr/bin/corral-agent'];
        const network = { HTTPS_PROXY: squid.url(PROXY_USER, PROXY_PASSWORD), CORRAL_CA_FILE: pki.caFile };
        const agent = await enroll(owner, nginx.url, asService, STATE_DIR, network);
        expect(agent.log).toContain(`(through proxy http://127.0.0.1:${squid.port})`);
        const { uid } = statSync(STATE_DIR);
        for (const [file, mode] of [
          ['identity.json', 0o644],
          ['agent.key', 0o600],
        ] as const)
          expect({ file, mode: statSync(join(STATE_DIR, file)).mode & 0o777, uid: statSync(join(STATE_DIR, file)).uid }).toEqual({ file, mode, uid });

        // Installed again on an enrolled host: still not started or enabled behind the admin's back.
        const again = dpkg(['-i', DEB]);
        expect(again).toMatchObject({ status: 0 });
        expect(again.output).toContain('this host is enrolled; start the agent with: sudo systemctl enable --now corral-agent');
        expect(processesOf('/usr/bin/corral-agent')).toEqual([]);

        await approve(owner, agent);
        const [command, ...prefix] = asService;
        const run = start(command, [...prefix, 'run', '--state-dir', STATE_DIR, '--transport', 'ws'], network);
        await run.waitForOutput(/approved: agent/);
        expect(run.output).toContain(`connected over websocket to ${nginx.url} through proxy http://127.0.0.1:${squid.port}`);
        const job = await runScript(owner, agent.agentId, 'bash', 'echo "as $(id -un) in $PWD"');
        expect(job).toEqual({ state: 'succeeded', log: expect.stringMatching(new RegExp(`as corral-agent in ${STATE_DIR}/work/`)) });
        await run.stop('SIGTERM', 15_000);
        expect(run.stderr).toContain('disconnected; agent stopped');
        // Both connections were tunnels through squid, as its user, to nginx.
        await waitFor(
          "squid to log the agent's tunnels",
          () =>
            squid
              .accessLog()
              .split('\n')
              .filter((l) => l === `CONNECT 127.0.0.1:${nginx.port} ${PROXY_USER} TCP_TUNNEL/200`).length >= 2,
          5_000,
        );
        expect(run.output).not.toContain(PROXY_PASSWORD);
      });

      it('dpkg --purge removes the agent, its settings, its state and its user', () => {
        expect(dpkg(['--purge', 'corral-agent'])).toMatchObject({ status: 0 });
        for (const path of ['/usr/bin/corral-agent', '/lib/systemd/system/corral-agent.service', '/etc/default/corral-agent', STATE_DIR])
          expect({ path, exists: existsSync(path) }).toEqual({ path, exists: false });
        expect(spawnSync('getent', ['passwd', 'corral-agent']).status).not.toBe(0);
        expect(spawnSync('getent', ['group', 'corral-agent']).status).not.toBe(0);
      });
    });
  });
});
