import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helperKey } from '../../../agent/src/jobs/job-helper';
import { OUTPUT_NAME } from '../../../src/protocol/messages';
import { UsageError } from '../args';
import { type Command, type Context, EXIT } from '../command';

// Inside a deployment step the agent puts its own `corral` first on PATH (plain sh, for any
// interpreter and user). These two commands are the same ones over the same files, so a host
// that has this CLI installed behaves the same whichever `corral` a script finds.

function helperDir(ctx: Context): string {
  const dir = ctx.env.CORRAL_HELPER_DIR;
  if (!dir) throw new UsageError('CORRAL_HELPER_DIR is not set: corral get and corral set-output work inside a Corral deployment step');
  return dir;
}

export const get: Command = {
  path: ['get'],
  summary: 'inside a deployment step: print the value of one of its variables',
  usage: 'corral get NAME',
  flags: {},
  async run(ctx) {
    if (ctx.words.length !== 1) throw new UsageError('name one variable: corral get NAME');
    const [name] = ctx.words;
    const file = join(helperDir(ctx), 'values', helperKey(name));
    let value: string;
    try {
      value = readFileSync(file, 'utf8');
    } catch {
      ctx.out.progress(`corral: this step has no variable "${name}"`);
      return EXIT.failed;
    }
    process.stdout.write(value);
    return EXIT.ok;
  },
};

export const setOutput: Command = {
  path: ['set-output'],
  summary: 'inside a deployment step: set an output for later steps (VALUE from stdin when left out)',
  usage: 'corral set-output NAME [VALUE] [--sensitive]',
  flags: { sensitive: {} },
  async run(ctx) {
    const [name, value, extra] = ctx.words;
    if (!name || extra !== undefined) throw new UsageError('corral set-output NAME [VALUE] [--sensitive]');
    if (!OUTPUT_NAME.test(name)) throw new UsageError(`an output name is letters, digits, ".", "_" or "-", not "${name}"`);
    const base = join(helperDir(ctx), 'outputs', helperKey(name));
    writeFileSync(`${base}.tmp`, value ?? readFileSync(0));
    if (ctx.flags.has('sensitive')) writeFileSync(`${base}.sensitive`, '');
    else rmSync(`${base}.sensitive`, { force: true });
    writeFileSync(`${base}.name`, name);
    renameSync(`${base}.tmp`, `${base}.value`);
    return EXIT.ok;
  },
};
