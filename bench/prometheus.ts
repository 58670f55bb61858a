// Reads the Prometheus text exposition format (version 0.0.4), what the node's /metrics serves:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

const METRIC_TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

// The samples a histogram or summary family is written as, besides (for a summary) its own name.
const SUFFIXES: Record<MetricType, readonly string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
  counter: [],
  gauge: [],
  untyped: [],
};

export interface Sample {
  /** As written: a histogram's buckets are `<family>_bucket`, its sum and count `<family>_sum` and `<family>_count`. */
  name: string;
  /** In the order written. */
  labels: Record<string, string>;
  /** +Inf, -Inf and NaN included. */
  value: number;
  timestampMs?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

/** A parsed exposition: its families in the order written, and its samples looked up by name and labels. */
export class PrometheusMetrics {
  private readonly byName = new Map<string, Sample[]>();

  constructor(readonly families: readonly MetricFamily[]) {
    for (const sample of this.allSamples()) this.byName.set(sample.name, [...(this.byName.get(sample.name) ?? []), sample]);
  }

  family(name: string): MetricFamily | undefined {
    return this.families.find((f) => f.name === name);
  }

  /** Every sample, in the order written. */
  allSamples(): Sample[] {
    return this.families.flatMap((f) => f.samples);
  }

  /** The samples of this name whose labels include these. */
  samples(name: string, labels: Record<string, string> = {}): Sample[] {
    return (this.byName.get(name) ?? []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The value of the sample of this name with exactly these labels, or undefined if there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const count = Object.keys(labels).length;
    return this.samples(name, labels).find((s) => Object.keys(s.labels).length === count)?.value;
  }
}

/** Parses exposition text; throws on a line that does not follow the format, naming the line. */
export function parsePrometheusText(text: string): PrometheusMetrics {
  const families = new Map<string, MetricFamily>();
  // A sample belongs to the family of its own name, else to the histogram or summary it is a part of.
  const familyOf = (sampleName: string): MetricFamily => {
    const own = families.get(sampleName);
    if (own) return own;
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const whole = sampleName.endsWith(suffix) ? families.get(sampleName.slice(0, -suffix.length)) : undefined;
      if (whole && SUFFIXES[whole.type].includes(suffix)) return whole;
    }
    const untyped: MetricFamily = { name: sampleName, type: 'untyped', samples: [] };
    families.set(sampleName, untyped);
    return untyped;
  };
  const declared = (name: string): MetricFamily => {
    const family = families.get(name) ?? { name, type: 'untyped', samples: [] };
    families.set(name, family);
    return family;
  };
  const typed = new Set<string>();

  text.split('\n').forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1} of the metrics is not in the Prometheus text format (${why}): ${line}`);
    };
    const reader = new LineReader(line, fail);
    reader.skipBlanks();
    if (reader.done()) return;
    if (reader.peek() === '#') {
      reader.next();
      reader.skipBlanks();
      const keyword = reader.word();
      if (keyword !== 'HELP' && keyword !== 'TYPE') return; // a comment
      reader.expectBlanks();
      const name = reader.metricName();
      const family = declared(name);
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail(`a second HELP for ${name}`);
        family.help = reader.done() ? '' : (reader.expectBlanks(), reader.helpText());
        return;
      }
      reader.expectBlanks();
      const type = reader.word();
      if (!METRIC_TYPES.includes(type as MetricType)) fail(`unknown type "${type}"`);
      if (typed.has(name)) fail(`a second TYPE for ${name}`);
      if (family.samples.length) fail(`the TYPE of ${name} comes after its samples`);
      typed.add(name);
      family.type = type as MetricType;
      reader.skipBlanks();
      if (!reader.done()) fail('more after the type');
      return;
    }
    const name = reader.metricName();
    const labels = reader.blanksThen('{') ? reader.labels() : {};
    reader.expectBlanks();
    const value = parseValue(reader.word(), fail);
    reader.skipBlanks();
    const sample: Sample = { name, labels, value };
    if (!reader.done()) {
      const timestamp = reader.word();
      if (!/^-?\d+$/.test(timestamp)) fail(`bad timestamp "${timestamp}"`);
      sample.timestampMs = Number(timestamp);
      reader.skipBlanks();
      if (!reader.done()) fail('more after the timestamp');
    }
    const family = familyOf(name);
    if (family.type === 'histogram' && name === `${family.name}_bucket` && labels.le === undefined) fail('a histogram bucket without "le"');
    if (family.type === 'summary' && name === family.name && labels.quantile === undefined) fail('a summary quantile without "quantile"');
    family.samples.push(sample);
  });
  return new PrometheusMetrics([...families.values()]);
}

/** One sample as an exposition line, as prom-client writes it. */
export function formatSample(sample: Sample): string {
  const labels = Object.entries(sample.labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  const timestamp = sample.timestampMs === undefined ? '' : ` ${sample.timestampMs}`;
  return `${sample.name}${labels.length ? `{${labels.join(',')}}` : ''} ${formatValue(sample.value)}${timestamp}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

// As Go's strconv.ParseFloat, which Prometheus uses, reads them: Inf and NaN in any case (prom-client writes "Nan").
function parseValue(word: string, fail: (why: string) => never): number {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(word)) return Number(word);
  if (/^\+?inf(inity)?$/i.test(word)) return Infinity;
  if (/^-inf(inity)?$/i.test(word)) return -Infinity;
  if (/^nan$/i.test(word)) return NaN;
  return fail(`bad value "${word}"`);
}

/** Reads one line token by token. */
class LineReader {
  private at = 0;

  constructor(
    private readonly line: string,
    private readonly fail: (why: string) => never,
  ) {}

  done() {
    return this.at >= this.line.length;
  }

  peek(): string | undefined {
    return this.line[this.at];
  }

  next(): string {
    if (this.done()) this.fail('it ends early');
    return this.line[this.at++];
  }

  /** Whether `c` comes next after any blanks; if so, skips the blanks. */
  blanksThen(c: string): boolean {
    const from = this.at;
    this.skipBlanks();
    if (this.peek() === c) return true;
    this.at = from;
    return false;
  }

  skipBlanks() {
    while (this.peek() === ' ' || this.peek() === '\t') this.at++;
  }

  expectBlanks() {
    if (this.peek() !== ' ' && this.peek() !== '\t') this.fail(this.done() ? 'it ends early' : `a blank expected at column ${this.at + 1}`);
    this.skipBlanks();
  }

  /** Everything up to the next blank. */
  word(): string {
    const start = this.at;
    while (!this.done() && this.peek() !== ' ' && this.peek() !== '\t') this.at++;
    return this.line.slice(start, this.at);
  }

  metricName(): string {
    return this.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/y, 'a metric name');
  }

  /** `{name="value",...}`, a trailing comma allowed; values unescaped. */
  labels(): Record<string, string> {
    const labels: Record<string, string> = {};
    this.next(); // {
    for (;;) {
      this.skipBlanks();
      if (this.peek() === '}') break;
      const name = this.match(/[a-zA-Z_][a-zA-Z0-9_]*/y, 'a label name');
      if (Object.hasOwn(labels, name)) this.fail(`label "${name}" twice`);
      this.skipBlanks();
      if (this.next() !== '=') this.fail(`"=" expected after label "${name}"`);
      this.skipBlanks();
      if (this.next() !== '"') this.fail(`a quoted value expected for label "${name}"`);
      labels[name] = this.escaped('"', { '\\': '\\', '"': '"', n: '\n' });
      this.skipBlanks();
      if (this.peek() !== ',') break;
      this.next();
    }
    this.skipBlanks();
    if (this.next() !== '}') this.fail('"}" expected after the labels');
    return labels;
  }

  /** The rest of a HELP line, unescaped. */
  helpText(): string {
    return this.escaped(undefined, { '\\': '\\', n: '\n' });
  }

  // Reads up to `end` (consuming it) or the end of the line, resolving backslash escapes.
  private escaped(end: string | undefined, escapes: Record<string, string>): string {
    let out = '';
    for (;;) {
      if (end === undefined && this.done()) return out;
      const c = this.next();
      if (c === end) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.next();
      if (!Object.hasOwn(escapes, e)) this.fail(`unknown escape "\\${e}"`);
      out += escapes[e];
    }
  }

  private match(pattern: RegExp, what: string): string {
    pattern.lastIndex = this.at;
    const found = pattern.exec(this.line)?.[0];
    if (!found) return this.fail(`${what} expected at column ${this.at + 1}`);
    this.at += found.length;
    return found;
  }
}
