// Bundles the CLI into one file that runs with plain `node` (the package's `corral` bin).
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, 'dist', 'corral.js');

// The version is compiled in; refuse to build when it and the package's disagree.
const { version } = JSON.parse(await readFile(join(here, '..', 'package.json'), 'utf8'));
const source = await readFile(join(here, 'src', 'version.ts'), 'utf8');
if (!source.includes(`'${version}'`)) {
  process.stderr.write(`cli/src/version.ts does not say ${version} (package.json); update one of them\n`);
  process.exit(1);
}

await build({
  entryPoints: [join(here, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  legalComments: 'none',
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
process.stdout.write(`built ${outfile} (corral ${version})\n`);
