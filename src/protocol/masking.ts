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
  const uri = encodeURIComponent(value);
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

/** A `maskStep` that keeps its own carry, for one stream. */
export class StreamMasker {
  private carry = '';

  constructor(private readonly values: readonly string[]) {}

  push(text: string): string {
    const step = maskStep(this.carry, text, this.values);
    this.carry = step.carry;
    return step.emit;
  }

  flush(): string {
    const step = maskStep(this.carry, '', this.values, true);
    this.carry = '';
    return step.emit;
  }
}
