// Bundles the agent into one file that runs with plain `node`, no node_modules beside it.
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, 'dist', 'corral-agent.js');

// The version is compiled into the program; refuse to build when the two disagree.
const { version } = JSON.parse(await readFile(join(here, 'package.json'), 'utf8'));
const source = await readFile(join(here, 'src', 'version.ts'), 'utf8');
if (!source.includes(`'${version}'`)) {
  process.stderr.write(`agent/src/version.ts does not say ${version} (agent/package.json); update one of them\n`);
  process.exit(1);
}

// ws loads these native helpers inside try/catch and falls back to JavaScript without them. They
// resolve to a module that fails as a missing one does, so nothing is looked for at run time:
// the bundle has no node_modules beside it, and the single executable's require knows only
// Node's built-ins (and warns about anything else it is asked for).
const nativeHelpersLeftOut = {
  name: 'native-helpers-left-out',
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: 'left-out' }));
    b.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}'`)}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: [join(here, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  plugins: [nativeHelpersLeftOut],
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
process.stdout.write(`built ${outfile} (corral-agent ${version})\n`);
