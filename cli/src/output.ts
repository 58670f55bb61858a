import { UsageError } from './args';

export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

interface Sink {
  write(chunk: string): unknown;
}

/**
 * What a command prints. With `--output json` stdout holds exactly one JSON document (the
 * command's result), so a pipeline can pipe it to jq; progress and logs go to stderr either way.
 */
export class Output {
  constructor(
    readonly format: OutputFormat,
    private readonly stdout: Sink = process.stdout,
    private readonly stderr: Sink = process.stderr,
  ) {}

  static parse(value: string | undefined): OutputFormat {
    if (value === undefined) return 'text';
    if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) throw new UsageError(`--output must be ${OUTPUT_FORMATS.join(' or ')}, not "${value}"`);
    return value as OutputFormat;
  }

  /** The command's result: `json` as it is, or `text()` for people. */
  result(json: unknown, text: () => string) {
    if (this.format === 'json') this.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    else {
      const t = text();
      if (t) this.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
    }
  }

  /** Progress for the person or the pipeline log, never part of the result. */
  progress(line: string) {
    this.stderr.write(`${line}\n`);
  }

  /**
   * A job's log as it streams. In text mode a script's stdout goes to stdout (so `corral run`
   * composes like `ssh host cmd`); its stderr and the agent's own notes go to stderr. In json
   * mode all of it goes to stderr, leaving stdout to the result.
   */
  log(text: string, stream: 'stdout' | 'stderr' | 'system' = 'stdout') {
    (this.format === 'text' && stream === 'stdout' ? this.stdout : this.stderr).write(text);
  }
}

/** Columns padded to their widest cell; the last one is left ragged. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  if (!rows.length) return '';
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}
