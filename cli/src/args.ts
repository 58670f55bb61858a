/** A mistake in how the command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

export interface FlagSpec {
  /** Takes a value (`--to Prod`, `--to=Prod`); otherwise a switch. */
  value?: boolean;
  /** May be given more than once; its values are kept in order. */
  repeat?: boolean;
}

export interface Parsed {
  /** Words that are not flags, in order. */
  words: string[];
  flags: Record<string, string | string[] | true>;
  /** What followed `--`, untouched. */
  rest: string[];
}

/**
 * Splits argv by a table of the flags a command knows. Unknown flags are an error rather than
 * a word: a misspelt `--wiat` in a pipeline must fail, not deploy without waiting.
 */
export function parseArgs(argv: string[], specs: Record<string, FlagSpec>): Parsed {
  const parsed: Parsed = { words: [], flags: {}, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      parsed.rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (/^-[a-zA-Z]/.test(arg)) throw new UsageError(`unknown option ${arg}: options are spelt out (--output, not -o)`);
      parsed.words.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name}${suggestion(name, Object.keys(specs))}`);
    let value: string | true = true;
    if (spec.value) {
      if (eq >= 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length && argv[i + 1] !== '--') value = argv[++i];
      else throw new UsageError(`--${name} needs a value`);
    } else if (eq >= 0) throw new UsageError(`--${name} takes no value`);
    if (spec.repeat) parsed.flags[name] = [...((parsed.flags[name] as string[] | undefined) ?? []), value as string];
    else if (name in parsed.flags) throw new UsageError(`--${name} is given twice`);
    else parsed.flags[name] = value;
  }
  return parsed;
}

function suggestion(name: string, known: string[]): string {
  const close = known.find((k) => k.startsWith(name) || name.startsWith(k) || distance(k, name) <= 2);
  return close ? ` (did you mean --${close}?)` : '';
}

/** Levenshtein distance, for "did you mean". */
export function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** Typed reads of a parse result, each failing with a message naming the flag. */
export class Flags {
  constructor(private readonly parsed: Parsed) {}

  string(name: string): string | undefined {
    const v = this.parsed.flags[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new UsageError(`--${name} needs a value`);
    if (!v.trim()) throw new UsageError(`--${name} must not be empty`);
    return v;
  }

  required(name: string, example: string): string {
    const v = this.string(name);
    if (v === undefined) throw new UsageError(`--${name} is required (e.g. --${name} ${example})`);
    return v;
  }

  list(name: string): string[] {
    const v = this.parsed.flags[name];
    if (v === undefined) return [];
    const values = Array.isArray(v) ? v : [v as string];
    for (const value of values) if (!value.trim()) throw new UsageError(`--${name} must not be empty`);
    return values;
  }

  has(name: string): boolean {
    return this.parsed.flags[name] === true;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${v}"`);
    return Number(v);
  }

  /** `--variable K=V` pairs; a name given twice is an error rather than a silent override. */
  pairs(name: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const pair of this.list(name)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--${name} takes NAME=VALUE, not "${pair}"`);
      const key = pair.slice(0, eq);
      if (key in out) throw new UsageError(`--${name} ${key} is given twice`);
      out[key] = pair.slice(eq + 1);
    }
    return out;
  }
}
