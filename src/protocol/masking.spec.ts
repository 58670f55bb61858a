import { MASK, maskStep, StreamMasker } from './masking';

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
