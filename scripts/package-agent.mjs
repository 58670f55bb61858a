// `npm run package:agent [-- --if-changed] [-- --no-build]`: the agent as a Node single
// executable for this host's Linux platform, and as a .deb that installs it as a hardened
// systemd service (docs/agent-packages.md). Output, in agent/dist/packages/:
//   corral-agent-<version>-linux-x64       the executable (Node.js built in, nothing else needed)
//   corral-agent_<version>_amd64.deb       /usr/bin/corral-agent, the unit, /etc/default/corral-agent
//   SHA256SUMS                             both, in sha256sum's format
//   build-info.json                        what they were made from (for --if-changed)
// --if-changed keeps the packages when neither the bundle nor the packaging changed; --no-build
// takes agent/dist/corral-agent.js as it is instead of bundling again (the tests do, so as not to
// rewrite a file other tests are running).
// A single executable is made from a Node.js binary of its target platform; only this host's
// own (process.execPath) is at hand, so the other architecture is not built here.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const AGENT = join(ROOT, 'agent');
const BUNDLE = join(AGENT, 'dist', 'corral-agent.js');
const PACKAGING = join(AGENT, 'packaging');
const OUT = join(AGENT, 'dist', 'packages');
// The sentinel Node's own single-executable support looks for (docs: "Single executable applications").
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// Node names the architectures its way, Debian its own.
const ARCHES = { x64: { node: 'x64', deb: 'amd64' }, arm64: { node: 'arm64', deb: 'arm64' } };

const OPTIONS = ['--if-changed', '--no-build'];
const ifChanged = process.argv.includes('--if-changed');
const noBuild = process.argv.includes('--no-build');
const unknown = process.argv.slice(2).filter((a) => !OPTIONS.includes(a));
if (unknown.length) fail(`unknown argument ${unknown[0]} (options: ${OPTIONS.join(', ')})`);

function say(line) {
  process.stdout.write(`package-agent: ${line}\n`);
}

function fail(message) {
  process.stderr.write(`package-agent: ${message}\n`);
  process.exit(1);
}

/** Runs a command to completion; fails the build with its output when it fails. */
function run(command, args, { quietLines = null } = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) fail(`${command} ${args.join(' ')} failed (${result.signal ?? `exit code ${result.status}`}):\n${output}`);
  return quietLines ? output.split('\n').filter((l) => l.trim() && !quietLines.test(l)) : output;
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function sha256(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function mebibytes(bytes) {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** Every file under `dir`, sorted, as paths relative to it. */
function filesUnder(dir, prefix = '') {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? filesUnder(dir, join(prefix, e.name)) : [join(prefix, e.name)]));
}

if (process.platform !== 'linux' || !ARCHES[process.arch]) fail(`packages are built on Linux x64 or arm64 (this is ${process.platform}-${process.arch})`);
if (!has('dpkg-deb')) fail("dpkg-deb is missing: the .deb is built with Debian's dpkg (sudo apt-get install dpkg)");
const arch = ARCHES[process.arch];
const other = arch.node === 'x64' ? 'arm64' : 'x64';

// 1. The bundle, as `npm run build` makes it.
if (!noBuild) {
  const built = spawnSync(process.execPath, [join(AGENT, 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) fail('agent/build.mjs failed');
} else if (!existsSync(BUNDLE)) fail(`${BUNDLE} is missing: run "npm run build" first, or leave out --no-build`);
const { version } = JSON.parse(readFileSync(join(AGENT, 'package.json'), 'utf8'));
// The single executable's require loads Node's built-ins only: anything else would fail there.
const required = new Set([...readFileSync(BUNDLE, 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]));
const notBuiltin = [...required].filter((name) => !isBuiltin(name));
if (notBuiltin.length) fail(`the bundle requires ${notBuiltin.join(', ')}, which a single executable cannot load: bundle it (agent/build.mjs)`);
const names = { binary: `corral-agent-${version}-linux-${arch.node}`, deb: `corral-agent_${version}_${arch.deb}.deb` };

// What the packages are made of: when none of it changed, --if-changed keeps them.
const inputs = createHash('sha256');
inputs.update(`${process.version} ${process.execPath} ${statSync(process.execPath).size}\n`);
for (const file of [BUNDLE, fileURLToPath(import.meta.url), join(ROOT, 'docs', 'agent-packages.md'), ...filesUnder(PACKAGING).map((f) => join(PACKAGING, f))])
  inputs.update(`${file}\n`).update(readFileSync(file));
const inputsHash = inputs.digest('hex');
const infoPath = join(OUT, 'build-info.json');
if (ifChanged && existsSync(infoPath)) {
  const info = JSON.parse(readFileSync(infoPath, 'utf8'));
  if (info.inputs === inputsHash && [names.binary, names.deb, 'SHA256SUMS'].every((n) => existsSync(join(OUT, n)))) {
    say(`up to date: ${OUT} (corral-agent ${version}; the bundle and the packaging are unchanged)`);
    process.exit(0);
  }
}

// Next to the output, so the results move into place by rename, on the same file system.
const work = mkdtempSync(join(AGENT, 'dist', 'package-work-'));
// fail() exits at once: the scratch directory goes then too.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// 2. The single executable: the bundle as a preparation blob, injected into a copy of this Node.
const blob = join(work, 'sea-prep.blob');
writeFileSync(join(work, 'sea-config.json'), JSON.stringify({ main: BUNDLE, output: blob, disableExperimentalSEAWarning: true }));
run(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')]);
const binary = join(work, names.binary);
copyFileSync(process.execPath, binary);
chmodSync(binary, 0o755);
// Node's debug symbols are a tenth of the file and of no use on a server; strip them first
// (after the injection, strip would drop the blob too).
if (has('strip')) run('strip', [binary]);
else say('strip not found (Debian: binutils); the executable keeps its debug symbols');
const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
// LIEF warns about Node's many ELF notes it does not know; they are harmless.
const notes = run(process.execPath, [postject, binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
  quietLines: /Can't find string offset for section name|Start injection|Injection done/,
});
if (notes.length) say(`postject: ${notes.join('\n')}`);

// 3. It must run by itself: every module it requires has to be a Node built-in.
const shown = run(binary, ['--version']).trim();
if (shown !== `corral-agent ${version}`) fail(`${names.binary} --version printed "${shown}", expected "corral-agent ${version}"`);
if (!run(binary, ['--help']).includes('Usage:')) fail(`${names.binary} --help printed no usage`);

// 4. The .deb: files owned by root (--root-owner-group), modes set here, not taken from git.
const root = join(work, 'deb');
const put = (from, to, mode) => {
  mkdirSync(join(root, dirname(to)), { recursive: true, mode: 0o755 });
  copyFileSync(from, join(root, to));
  chmodSync(join(root, to), mode);
};
put(binary, 'usr/bin/corral-agent', 0o755);
put(join(PACKAGING, 'corral-agent.service'), 'lib/systemd/system/corral-agent.service', 0o644);
// Mode 0640: it may hold proxy credentials (postinst gives it to the corral-agent group).
put(join(PACKAGING, 'corral-agent.default'), 'etc/default/corral-agent', 0o640);
put(join(ROOT, 'docs', 'agent-packages.md'), 'usr/share/doc/corral-agent/README.md', 0o644);
for (const script of ['postinst', 'prerm', 'postrm']) put(join(PACKAGING, 'deb', script), `DEBIAN/${script}`, 0o755);
writeFileSync(join(root, 'DEBIAN', 'conffiles'), '/etc/default/corral-agent\n');
chmodSync(join(root, 'DEBIAN', 'conffiles'), 0o644);
// Directories too, whatever the umask made of them.
const chmodDirs = (dir) => {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) chmodDirs(join(dir, e.name));
};
chmodDirs(root);
const installedKiB = filesUnder(root)
  .filter((f) => !f.startsWith('DEBIAN/'))
  .reduce((sum, f) => sum + Math.ceil(statSync(join(root, f)).size / 1024), 0);
const control = [
  'Package: corral-agent',
  `Version: ${version}`,
  `Architecture: ${arch.deb}`,
  'Maintainer: Corral maintainers <maintainers@corral.invalid>',
  `Installed-Size: ${installedKiB}`,
  // What the Node.js binary inside links against (the glibc of Node's official Linux builds).
  'Depends: adduser, libc6 (>= 2.28), libgcc-s1, libstdc++6',
  'Recommends: systemd',
  'Section: admin',
  'Priority: optional',
  'Description: Corral agent: connects this host out to a Corral control plane',
  ' The agent connects out (WebSocket, falling back to HTTP long-poll) to a Corral',
  ' control plane, waits until an administrator approves it, then runs the jobs it',
  " is offered within the host's local policy. One executable with Node.js built in;",
  ' installed as the corral-agent systemd service, started once the host is enrolled.',
  '',
].join('\n');
writeFileSync(join(root, 'DEBIAN', 'control'), control);
chmodSync(join(root, 'DEBIAN', 'control'), 0o644);
const deb = join(work, names.deb);
// xz -1 takes seconds for about 25 MiB; the default level takes eight times as long for 15 % less.
run('dpkg-deb', ['--build', '--root-owner-group', '-Zxz', '-z1', root, deb]);

// 5. Into place, with their checksums.
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
renameSync(binary, join(OUT, names.binary));
renameSync(deb, join(OUT, names.deb));
const sums = [];
for (const name of [names.binary, names.deb]) sums.push(`${await sha256(join(OUT, name))}  ${name}\n`);
writeFileSync(join(OUT, 'SHA256SUMS'), sums.join(''));
writeFileSync(infoPath, `${JSON.stringify({ version, node: process.version, arch: arch.node, inputs: inputsHash }, null, 2)}\n`);

say(`built ${OUT}:`);
for (const name of [names.binary, names.deb]) say(`  ${name}  ${mebibytes(statSync(join(OUT, name)).size)}`);
say('  SHA256SUMS');
say(
  `linux-${other} was not built: a single executable is made from a Node.js binary of its platform, and the only one here is this linux-${arch.node} Node; run this command on a linux-${other} host`,
);
