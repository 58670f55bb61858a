/** What a sensitive value becomes in a job's output. */
export const MASK = '***';

/** Shorter values would mask ordinary words; the API refuses them. */
export const MIN_SENSITIVE_VALUE_LENGTH = 4;

export interface MaskStep {
  /** Safe to store or send: every whole sensitive value in it is masked. */
  emit: string;
  /** Held back because it could be the start of a value split across chunks; pass it to the next step. */
  carry: string;
}

// Base64 and hex forms shorter than this are left alone (the value itself is still masked): a
// four-letter base64 piece or the hex of a short value would mask ordinary words and numbers.
const MIN_ENCODED_FORM = 8;

/**
 * A value and the forms it commonly takes on its way into a log: base64 (standard and URL-safe,
 * with and without padding), URL encoding (as a path or query part, and as a form with `+` for
 * spaces), JSON string escaping, and hexadecimal (either case) of its UTF-8 bytes.
 *
 * Base64 of a text that merely contains the value depends on where the value starts in a group of
 * three bytes, and its last group mixes with what follows. So besides the value's own encoding,
 * the whole groups of each of its three alignments are masked: `echo "$KEY" | base64` and a
 * base64'd JSON document holding it are both caught.
 */
export function sensitiveForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const base64: string[] = [bytes.toString('base64')];
  for (let shift = 0; shift < 3; shift++) {
    const whole = bytes.subarray(shift, shift + Math.floor((bytes.length - shift) / 3) * 3);
    base64.push(whole.toString('base64'));
  }
  const urlSafe = (b: string) => b.replaceAll('+', '-').replaceAll('/', '_');
  const hex = bytes.toString('hex');
  const binary = [...base64.flatMap((b) => [b, b.replace(/=+$/, ''), urlSafe(b), urlSafe(b).replace(/=+$/, '')]), hex, hex.toUpperCase()];
  // A lone surrogate cannot be URL-encoded (encodeURIComponent throws) nor printed: as UTF-8 it is U+FFFD.
  const uri = encodeURIComponent(value.replace(/\p{Cs}/gu, '\uFFFD'));
  const escaped = [uri, uri.replaceAll('%20', '+'), JSON.stringify(value).slice(1, -1)];
  return [...new Set([value, ...binary.filter((form) => form.length >= MIN_ENCODED_FORM), ...escaped])];
}

/**
 * Masks sensitive values, and their common encodings (`sensitiveForms`), in a stream of text
 * that arrives in pieces. A value split across two pieces is still masked, because the end of a piece that could begin one is held back
 * (as `carry`) until the next piece shows whether it does. At the stream's end, call it with
 * `final` so the carry is released.
 */
export function maskStep(carry: string, text: string, values: readonly string[], final = false): MaskStep {
  const secrets = [...new Set(values.filter((v) => v.length > 0).flatMap(sensitiveForms))].sort((a, b) => b.length - a.length);
  let masked = carry + text;
  for (const secret of secrets) masked = masked.split(secret).join(MASK);
  if (final || secrets.length === 0) return { emit: masked, carry: '' };
  const hold = longestPrefixSuffix(masked, secrets);
  return { emit: masked.slice(0, masked.length - hold), carry: masked.slice(masked.length - hold) };
}

// Length of the longest end of `text` that is a proper start of one of `secrets`.
function longestPrefixSuffix(text: string, secrets: readonly string[]): number {
  let best = 0;
  for (const secret of secrets) {
    for (let n = Math.min(secret.length - 1, text.length); n > best; n--) {
      if (text.endsWith(secret.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/**
 * Masks one stream, as `maskStep` does, for a masker whose carry stays in memory (the agent's).
 * The carry is kept unmasked, so a value's start is held back even when a shorter value inside it
 * was already whole: a value containing another is masked whole wherever the stream is cut. Every
 * stretch of the output that is part of an occurrence of a value or of one of its forms, overlapping
 * ones included, becomes one mask: the output does not depend on where the stream was cut.
 */
export class StreamMasker {
  private readonly secrets: string[];
  /** The end of the stream not yet emitted, as it was printed: it could begin a value. */
  private carry = '';
  /** How much of the carry is inside a value that began in what was already emitted. */
  private covered = 0;
  /** What was emitted ends with a mask that may go on into the carry. */
  private maskOpen = false;

  constructor(values: readonly string[]) {
    this.secrets = [...new Set(values.filter((v) => v.length > 0).flatMap(sensitiveForms))].sort((a, b) => b.length - a.length);
  }

  push(text: string): string {
    return this.step(text, false);
  }

  flush(): string {
    return this.step('', true);
  }

  private step(text: string, final: boolean): string {
    if (this.secrets.length === 0) return text;
    const raw = this.carry + text;
    const cut = final ? raw.length : raw.length - longestPrefixSuffix(raw, this.secrets);
    const ranges: [number, number][] = this.covered ? [[0, this.covered]] : [];
    for (const secret of this.secrets) for (let i = raw.indexOf(secret); i !== -1; i = raw.indexOf(secret, i + 1)) ranges.push([i, i + secret.length]);
    ranges.sort((a, b) => a[0] - b[0]);
    let out = '';
    let at = 0;
    let runEnd = -1;
    let reach = this.covered - cut; // how far a value begun before the cut reaches past it
    for (const [start, end] of ranges) {
      if (start >= cut) break;
      reach = Math.max(reach, end - cut);
      if (start <= runEnd) {
        runEnd = Math.max(runEnd, end);
        at = Math.min(runEnd, cut);
        continue;
      }
      out += raw.slice(at, start);
      // A run that goes on from the previous piece already has its mask.
      if (!(start === 0 && this.maskOpen)) out += MASK;
      runEnd = end;
      at = Math.min(end, cut);
    }
    out += raw.slice(at, cut);
    if (cut > 0) this.maskOpen = runEnd >= cut;
    this.covered = Math.max(0, reach);
    this.carry = raw.slice(cut);
    if (final) {
      this.covered = 0;
      this.maskOpen = false;
    }
    return out;
  }
}
