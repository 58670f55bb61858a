import { MASK, maskStep, sensitiveForms, StreamMasker } from './masking';

describe('maskStep', () => {
  it('masks every whole occurrence', () => {
    expect(maskStep('', 'a hunter2 b hunter2', ['hunter2'])).toEqual({ emit: `a ${MASK} b ${MASK}`, carry: '' });
  });

  it('masks a value split across pieces by holding back its possible start', () => {
    const first = maskStep('', 'password is hun', ['hunter2']);
    expect(first).toEqual({ emit: 'password is ', carry: 'hun' });
    const second = maskStep(first.carry, 'ter2 ok', ['hunter2']);
    expect(second).toEqual({ emit: `${MASK} ok`, carry: '' });
  });

  it('releases a held-back start that turned out not to be a value', () => {
    const first = maskStep('', 'hunt', ['hunter2']);
    expect(first.carry).toBe('hunt');
    expect(maskStep(first.carry, 'ing season', ['hunter2'])).toEqual({ emit: 'hunting season', carry: '' });
  });

  it('releases the carry at the end of the stream', () => {
    expect(maskStep('hun', '', ['hunter2'], true)).toEqual({ emit: 'hun', carry: '' });
  });

  it('prefers the longer of two overlapping values', () => {
    expect(maskStep('', 'secret-long', ['secret', 'secret-long']).emit).toBe(MASK);
  });

  it('passes text through when there is nothing to mask', () => {
    expect(maskStep('', 'plain', [])).toEqual({ emit: 'plain', carry: '' });
    expect(maskStep('', 'plain', [''])).toEqual({ emit: 'plain', carry: '' });
  });

  it('masks a value spread over many one-character pieces', () => {
    const masker = new StreamMasker(['s3cr3t!']);
    const out = [...'x s3cr3t! y'].map((c) => masker.push(c)).join('') + masker.flush();
    expect(out).toBe(`x ${MASK} y`);
  });
});

describe('masking the encodings of a value', () => {
  const key = 'sk_live/4f+8a?b c"d\\é';
  const masked = (text: string) => maskStep('', text, [key], true).emit;
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

  it.each([
    ['base64', b64(key)],
    ['base64 without padding', b64(key).replace(/=+$/, '')],
    ['URL-safe base64', b64(key).replaceAll('+', '-').replaceAll('/', '_')],
    ['URL encoding', encodeURIComponent(key)],
    ['form encoding', encodeURIComponent(key).replaceAll('%20', '+')],
    ['JSON string escaping', JSON.stringify(key).slice(1, -1)],
    ['hex', Buffer.from(key).toString('hex')],
    ['upper-case hex', Buffer.from(key).toString('hex').toUpperCase()],
  ])('masks its %s', (_, form) => {
    expect(masked(`before ${form} after`)).toBe(`before ${MASK} after`);
  });

  it('masks it inside base64 of a longer text, wherever it starts', () => {
    for (const prefix of ['', 'a', 'ab', '{"token":"'])
      for (const suffix of ['', '\n', '"}']) {
        const encoded = b64(`${prefix}${key}${suffix}`);
        const out = masked(encoded);
        expect(out).toContain(MASK);
        // What is left around the mask is at most the groups that mix the value with its neighbours.
        expect(out.replace(MASK, '').length).toBeLessThanOrEqual(encoded.length - 16);
      }
  });

  it('masks a JSON document that holds it, as printed', () => {
    expect(masked(JSON.stringify({ key }))).toBe(`{"key":"${MASK}"}`);
  });

  it('masks an encoding split across pieces', () => {
    const masker = new StreamMasker([key]);
    const encoded = b64(key);
    const out = masker.push(`x ${encoded.slice(0, 5)}`) + masker.push(`${encoded.slice(5)} y`) + masker.flush();
    expect(out).toBe(`x ${MASK} y`);
  });

  it('gives a short value no base64 or hex form short enough to match ordinary words', () => {
    expect(sensitiveForms('abcd')).toEqual(['abcd', 'YWJjZA==', '61626364']);
  });
});
