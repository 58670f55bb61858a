import { chownSync, closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_JOB_OUTPUTS, MAX_OUTPUT_VALUE_CHARS, OUTPUT_NAME, type JobOutput } from '../../../src/protocol/messages';
import type { RunAsUser } from './job-runner';

/**
 * The `corral` command a deployment step finds first on its PATH:
 *
 *   corral get NAME                          the value of a variable in this step
 *   corral set-output NAME [VALUE] [--sensitive]   an output for later steps (VALUE from stdin when left out)
 *
 * It is plain sh over files in the job's own working directory (0700, the job's user), so it
 * works for any interpreter and any user a job runs as: values/<key> holds each value (the
 * sensitive ones too: the job's own 0600 files, removed with the directory when the job ends),
 * outputs/<key>.{name,value,sensitive} what the script set. Nothing passes through the log.
 */
const SCRIPT = `#!/bin/sh
# corral: this job's helper. corral get NAME | corral set-output NAME [VALUE] [--sensitive]
dir="\${CORRAL_HELPER_DIR:?corral: CORRAL_HELPER_DIR is not set; this command works inside a Corral deployment step}"
usage() { echo "usage: corral get NAME | corral set-output NAME [VALUE] [--sensitive] (VALUE from stdin when left out)" >&2; exit 2; }
key() { printf %s "$1" | tr 'A-Z' 'a-z' | od -An -v -tx1 | tr -d ' \\n'; }
case "$1" in
  get)
    [ $# -eq 2 ] || usage
    f="$dir/values/$(key "$2")"
    [ -f "$f" ] || { echo "corral: this step has no variable \\"$2\\"" >&2; exit 1; }
    cat "$f" ;;
  set-output)
    shift; name=""; value=""; given=""; sensitive=""
    for a in "$@"; do
      case "$a" in
        --sensitive) sensitive=1 ;;
        *) if [ -z "$name" ]; then name="$a"; elif [ -z "$given" ]; then value="$a"; given=1; else usage; fi ;;
      esac
    done
    [ -n "$name" ] || usage
    case "$name" in *[!A-Za-z0-9._-]*) echo "corral: an output name is letters, digits, \\".\\", \\"_\\" or \\"-\\", not \\"$name\\"" >&2; exit 2 ;; esac
    f="$dir/outputs/$(key "$name")"
    if [ -n "$given" ]; then printf %s "$value" > "$f.tmp"; else cat > "$f.tmp"; fi || exit 1
    if [ -n "$sensitive" ]; then : > "$f.sensitive"; else rm -f "$f.sensitive"; fi
    printf %s "$name" > "$f.name" && mv "$f.tmp" "$f.value" ;;
  *) usage ;;
esac
`;

/** A name's file in values/ or outputs/: names ignore case; hex keeps any name a safe file name. */
export const helperKey = (name: string) => Buffer.from(name.toLowerCase()).toString('hex');

/** Writes the helper and the step's values into its working directory; returns what the job's environment needs (`path`: the job's PATH). */
export function writeHelper(workDir: string, values: Record<string, string>, runAs: RunAsUser | null, path = '/usr/local/bin:/usr/bin:/bin'): NodeJS.ProcessEnv {
  const dir = join(workDir, '.corral');
  const own = (path: string) => runAs && chownSync(path, runAs.uid, runAs.gid);
  for (const sub of ['', 'bin', 'values', 'outputs']) {
    mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
    own(join(dir, sub));
  }
  writeFileSync(join(dir, 'bin', 'corral'), SCRIPT, { mode: 0o700 });
  own(join(dir, 'bin', 'corral'));
  for (const [name, value] of Object.entries(values)) {
    const file = join(dir, 'values', helperKey(name));
    writeFileSync(file, value, { mode: 0o600 });
    own(file);
  }
  return { CORRAL_HELPER_DIR: dir, PATH: `${join(dir, 'bin')}:${path}` };
}

/** What the script set with `corral set-output`; what is wrong with one is said in its log and it is left out. */
export function readOutputs(workDir: string, note: (line: string) => void): JobOutput[] {
  const dir = join(workDir, '.corral', 'outputs');
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.value'));
  } catch {
    return [];
  }
  const outputs: JobOutput[] = [];
  for (const file of files.sort()) {
    const base = join(dir, file.slice(0, -'.value'.length));
    const name = ownFile(`${base}.name`, 200);
    const value = ownFile(`${base}.value`, MAX_OUTPUT_VALUE_CHARS * 4);
    if (name === null || value === null) note(`output file ${file} not kept: it is not a plain file of the job's, or it is too large`);
    else if (!OUTPUT_NAME.test(name)) note(`output "${name}" not kept: its name must be 1-200 letters, digits, ".", "_" or "-"`);
    else if (value.length > MAX_OUTPUT_VALUE_CHARS) note(`output "${name}" not kept: its value is longer than ${MAX_OUTPUT_VALUE_CHARS} characters`);
    else if (outputs.length === MAX_JOB_OUTPUTS) note(`output "${name}" not kept: a step sets at most ${MAX_JOB_OUTPUTS} outputs`);
    else outputs.push({ name, value, sensitive: existsSync(`${base}.sensitive`) });
  }
  return outputs;
}

/**
 * A plain file's text, not followed through a link (the script owns the directory and could
 * point one at the agent's own files), or null when it is not one or is larger than `maxBytes`.
 */
function ownFile(path: string, maxBytes: number): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const stat = fstatSync(fd);
    return stat.isFile() && stat.size <= maxBytes ? readFileSync(fd, 'utf8') : null;
  } finally {
    closeSync(fd);
  }
}
