import fc from 'fast-check';
import { StringDecoder } from 'node:string_decoder';
import { MASK, maskStep, MIN_SENSITIVE_VALUE_LENGTH, sensitiveForms, StreamMasker } from './masking';

// The masking part of the verify suite (docs/masking.md): random secrets printed in every form
// masking covers, cut at random places, fed through the maskers with their carries; no secret and
// no covered form of one may be left in what comes out. A fixed seed keeps CI reproducible;
// VERIFY_LONG=1 runs many more cases (VERIFY_SEED=<n> tries another seed).
const LONG = process.env.VERIFY_LONG === '1';
const SEED = Number(process.env.VERIFY_SEED ?? 20_170_417);
const RUNS = LONG ? 3_000 : 150;
const params = { seed: SEED, numRuns: RUNS, endOnFailure: true };

// Base64 and hex forms shorter than this are not masked (masking.ts, MIN_ENCODED_FORM).
const MIN_ENCODED_FORM = 8;
// What the API accepts: at least 4 characters; here at most 4,096 bytes of UTF-8.
const MAX_SECRET_BYTES = 4096;

const b64 = (bytes: Buffer) => bytes.toString('base64');
const urlSafe = (b: string) => b.replaceAll('+', '-').replaceAll('/', '_');
const unpadded = (b: string) => b.replace(/=+$/, '');

/** Every way the tests print a secret whole, named; the forms masking promises to cover. */
function printedForms(secret: string): { name: string; text: string; encoded: boolean }[] {
  const bytes = Buffer.from(secret, 'utf8');
  const uri = encodeURIComponent(secret);
  return [
    { name: 'raw', text: secret, encoded: false },
    { name: 'base64', text: b64(bytes), encoded: true },
    { name: 'base64 unpadded', text: unpadded(b64(bytes)), encoded: true },
    { name: 'base64url', text: urlSafe(b64(bytes)), encoded: true },
    { name: 'base64url unpadded', text: unpadded(urlSafe(b64(bytes))), encoded: true },
    { name: 'URL-encoded', text: uri, encoded: false },
    { name: 'form-encoded', text: uri.replaceAll('%20', '+'), encoded: false },
    { name: 'JSON-escaped', text: JSON.stringify(secret).slice(1, -1), encoded: false },
    { name: 'hex', text: bytes.toString('hex'), encoded: true },
    { name: 'HEX', text: bytes.toString('hex').toUpperCase(), encoded: true },
  ];
}

/** What must never be left in the output for this secret: its whole printed forms (long enough to be masked) and every form masking lists. */
function forbidden(secret: string): string[] {
  const printed = printedForms(secret)
    .filter((f) => !f.encoded || f.text.length >= MIN_ENCODED_FORM)
    .map((f) => f.text);
  return [...new Set([...printed, ...sensitiveForms(secret)])];
}

/** The whole base64 groups of `secret` inside the base64 of a text where it starts after `offset` bytes. */
function embeddedBase64(secret: string, offset: number): string {
  const bytes = Buffer.from(secret, 'utf8');
  const shift = (3 - (offset % 3)) % 3;
  return b64(bytes.subarray(shift, shift + Math.floor((bytes.length - shift) / 3) * 3));
}

function leaks(output: string, secrets: readonly string[]): string[] {
  return secrets.flatMap((s) =>
    forbidden(s)
      .filter((form) => output.includes(form))
      .map((form) => `${JSON.stringify(form.slice(0, 40))}… (a form of ${JSON.stringify(secret40(s))})`),
  );
}
const secret40 = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** Cuts a string to at most `max` bytes of UTF-8 without splitting a character. */
function toBytes(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

// Characters: any code point (astral ones included), or a small alphabet that makes secrets
// overlap, repeat and look like the mask, the padding and the escapes.
const tricky = fc.constantFrom('a', 'b', '*', '=', '+', '/', '%', '"', '\\', ' ', '\n', '\r\n', '\t', 'é', '€', '😀', '\u0000');
const anyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const lineOf = (unit: fc.Arbitrary<string>, max: number) => fc.array(unit, { maxLength: max }).map((cs) => cs.join(''));
const text = (max: number) => fc.oneof(lineOf(anyChar, max), lineOf(tricky, max), fc.string({ unit: 'grapheme', maxLength: max }));
const lengths = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 4, max: 24 }) },
  { weight: 3, arbitrary: fc.integer({ min: 25, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 301, max: 4096 }) },
);
const freshSecret = fc
  .tuple(lengths, fc.boolean())
  .chain(([n, small]) => fc.array(small ? tricky : fc.oneof(anyChar, fc.constant('\n')), { minLength: n, maxLength: n }))
  .map((cs) => toBytes(cs.join(''), MAX_SECRET_BYTES))
  .filter((s) => [...s].length >= MIN_SENSITIVE_VALUE_LENGTH);

/** Several secrets for one job; some contain, start, end or overlap another. */
const jobSecrets = fc
  .tuple(
    fc.array(freshSecret, { minLength: 1, maxLength: 4 }),
    fc.array(fc.record({ from: fc.nat(), kind: fc.constantFrom('inside', 'overlap', 'prefix', 'around'), a: fc.nat(), b: fc.nat(), extra: freshSecret }), { maxLength: 3 }),
  )
  .map(([base, derived]) => {
    const secrets = [...base];
    for (const d of derived) {
      const of = secrets[d.from % secrets.length];
      const cps = [...of];
      const start = d.a % cps.length;
      const piece = cps.slice(start, start + Math.max(MIN_SENSITIVE_VALUE_LENGTH, d.b % cps.length)).join('');
      const made = {
        inside: piece,
        overlap: `${cps.slice(Math.floor(cps.length / 2)).join('')}${d.extra}`,
        prefix: `${of}${d.extra}`,
        around: `${d.extra}${of}${d.extra}`,
      }[d.kind];
      const value = toBytes(made, MAX_SECRET_BYTES);
      if ([...value].length >= MIN_SENSITIVE_VALUE_LENGTH) secrets.push(value);
    }
    return [...new Set(secrets)];
  });

interface Print {
  secret: number;
  /** A printed form's index in printedForms, or -1: the base64 of a text holding the secret. */
  form: number;
  before: string;
  after: string;
}

/** A job's output: secrets printed in covered forms, between random text, and the secrets' lists. */
const jobOutput = jobSecrets.chain((secrets) =>
  fc
    .array(
      fc.record({
        secret: fc.nat({ max: secrets.length - 1 }),
        form: fc.integer({ min: -1, max: printedForms('abcd').length - 1 }),
        before: text(12),
        after: text(12),
      }),
      { minLength: 1, maxLength: 10 },
    )
    .chain((prints) => fc.record({ secrets: fc.constant(secrets), prints: fc.constant(prints), gaps: fc.array(text(20), { minLength: prints.length + 1, maxLength: prints.length + 1 }) })),
);

function render({ secrets, prints, gaps }: { secrets: string[]; prints: Print[]; gaps: string[] }): { output: string; mustNotContain: string[] } {
  let output = gaps[0];
  const mustNotContain: string[] = [];
  prints.forEach((p, i) => {
    const secret = secrets[p.secret];
    if (p.form === -1) {
      // `echo "$KEY" | base64`, a base64'd JSON document holding it: what is masked are its whole groups.
      output += b64(Buffer.from(`${p.before}${secret}${p.after}`, 'utf8'));
      const groups = embeddedBase64(secret, Buffer.byteLength(p.before));
      if (groups.length >= MIN_ENCODED_FORM) mustNotContain.push(groups);
    } else output += printedForms(secret)[p.form].text;
    output += gaps[i + 1];
  });
  return { output, mustNotContain };
}

/** Cut points: a few random ones, every one near a secret's middle likely enough, sorted, as pieces. */
function cut(s: string, points: number[]): string[] {
  const at = [...new Set(points.map((p) => p % (s.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let last = 0;
  for (const p of at) {
    pieces.push(s.slice(last, p));
    last = p;
  }
  pieces.push(s.slice(last));
  return pieces;
}
const cutPoints = fc.oneof(fc.array(fc.nat(), { maxLength: 8 }), fc.array(fc.nat(), { minLength: 20, maxLength: 200 }));

/** Feeds pieces through maskStep as the server does (its carry between chunks), then releases the carry. */
function serverMask(pieces: readonly string[], values: readonly string[]): { out: string; carries: string[] } {
  let carry = '';
  let out = '';
  const carries: string[] = [];
  for (const piece of pieces) {
    const step = maskStep(carry, piece, values);
    out += step.emit;
    carry = step.carry;
    carries.push(carry);
  }
  return { out: out + maskStep(carry, '', values, true).emit, carries };
}

function expectClean(output: string, secrets: readonly string[], extra: readonly string[]) {
  const found = [...leaks(output, secrets), ...extra.filter((f) => output.includes(f)).map((f) => `${JSON.stringify(f.slice(0, 40))}… (whole base64 groups of a secret)`)];
  expect(found).toEqual([]);
}

describe(`masking, property-based (seed ${SEED}, ${RUNS} runs each)`, () => {
  it('maskStep over chunks cut anywhere (inside surrogate pairs too) leaves no secret and no covered form; no carry holds one', () => {
    fc.assert(
      fc.property(jobOutput, cutPoints, (job, points) => {
        const { output, mustNotContain } = render(job);
        const { out, carries } = serverMask(cut(output, points), job.secrets);
        expectClean(out, job.secrets, mustNotContain);
        // The server stores its carry in the job's row between chunks.
        for (const carry of carries) expect(leaks(carry, job.secrets)).toEqual([]);
      }),
      params,
    );
  });

  it('the agent and the server in a row: bytes cut anywhere on two streams, decoded, masked by the agent, re-chunked, masked by the server', () => {
    fc.assert(
      fc.property(jobOutput, jobOutput, cutPoints, cutPoints, fc.array(fc.boolean(), { maxLength: 400 }), (out1, out2, points1, points2, order) => {
        const secrets = [...new Set([...out1.secrets, ...out2.secrets])];
        const streams = [render(out1), render(out2)].map(({ output, mustNotContain }, i) => {
          const bytes = Buffer.from(output, 'utf8');
          const reads = cut(bytes.toString('latin1'), i ? points2 : points1).map((p) => Buffer.from(p, 'latin1'));
          return { reads, mustNotContain, decoder: new StringDecoder('utf8'), masker: new StreamMasker(secrets), sent: [] as string[] };
        });
        // The two streams' reads arrive interleaved, as the runner sees stdout and stderr.
        let o = 0;
        while (streams.some((s) => s.reads.length)) {
          const s = streams[streams[0].reads.length === 0 ? 1 : streams[1].reads.length === 0 ? 0 : order[o++ % Math.max(order.length, 1)] ? 1 : 0];
          const masked = s.masker.push(s.decoder.write(s.reads.shift()!));
          if (masked) s.sent.push(masked);
        }
        for (const s of streams) {
          s.sent.push(s.masker.push(s.decoder.end()) + s.masker.flush());
          // What the agent sent, as chunks (cut anywhere: the server must not rely on the agent's cuts).
          const stored = serverMask(cut(s.sent.join(''), points1), secrets).out;
          expectClean(stored, secrets, s.mustNotContain);
          expectClean(s.sent.join(''), secrets, s.mustNotContain);
        }
      }),
      params,
    );
  });

  it('the stream result does not depend on where it was cut: a secret that contains another is masked whole', () => {
    fc.assert(
      fc.property(jobOutput, cutPoints, (job, points) => {
        const { output } = render(job);
        const masker = new StreamMasker(job.secrets);
        const streamed = cut(output, points)
          .map((p) => masker.push(p))
          .join('');
        const whole = new StreamMasker(job.secrets);
        expect(streamed + masker.flush()).toBe(whole.push(output) + whole.flush());
      }),
      params,
    );
  });

  it('masks a value printed whole in one piece, in every covered form, to exactly one mask', () => {
    fc.assert(
      fc.property(freshSecret, (secret) => {
        for (const f of printedForms(secret).filter((p) => !p.encoded || p.text.length >= MIN_ENCODED_FORM)) {
          const masker = new StreamMasker([secret]);
          const out = masker.push(`<${f.text}>`) + masker.flush();
          // Brackets the secret does not hold cannot be part of a match.
          if (!/[<>]/.test(secret)) expect({ form: f.name, out }).toEqual({ form: f.name, out: `<${MASK}>` });
          else expect(leaks(out, [secret])).toEqual([]);
        }
      }),
      params,
    );
  });
});

// Cases the properties found, kept as examples.
describe('masking, cases found by the properties', () => {
  const stream = (values: string[], pieces: string[]) => {
    const masker = new StreamMasker(values);
    return pieces.map((p) => masker.push(p)).join('') + masker.flush();
  };

  it('masks the whole of a value cut right after a shorter value inside it', () => {
    expect(stream(['xx-abcd-yy', 'abcd'], ['xx-abcd', '-yy'])).toBe(MASK);
  });

  it('keeps masking the end of a value that overlaps the start of another while the other is still coming', () => {
    expect(stream(['abcdef', 'defghij'], ['abcdef', 'g', 'X'])).toBe(`${MASK}gX`);
  });

  it('takes a value with a lone surrogate instead of throwing (encodeURIComponent refuses one)', () => {
    expect(stream(['ab\ud800cd'], ['x ab\ud800cd y'])).toBe(`x ${MASK} y`);
    expect(maskStep('', `x ${Buffer.from('ab\ud800cd').toString('hex')} y`, ['ab\ud800cd'], true).emit).toBe(`x ${MASK} y`);
  });
});
