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

/**
 * Masks sensitive values in a stream of text that arrives in pieces. A value split across
 * two pieces is still masked, because the end of a piece that could begin one is held back
 * (as `carry`) until the next piece shows whether it does. At the stream's end, call it with
 * `final` so the carry is released.
 */
export function maskStep(carry: string, text: string, values: readonly string[], final = false): MaskStep {
  const secrets = [...new Set(values.filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
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
