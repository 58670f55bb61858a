import { expand, lookupIn, MAX_EXPANDED_CHARS, MAX_EXPANDED_TOTAL_CHARS, MAX_EXPANSION_DEPTH, references, render, substitute, variableKey } from './substitution';

const from = (values: Record<string, string>) => lookupIn(values);

describe('references', () => {
  it('lists each name once, trimmed, in order, with its first spelling', () => {
    expect(references('#{ DbHost }:#{Port} #{dbhost} #{Port}')).toEqual(['DbHost', 'Port']);
  });

  it('does not list escaped references', () => {
    expect(references('##{Escaped} #{Real}')).toEqual(['Real']);
  });

  it('reads output variable names with brackets and spaces', () => {
    expect(references('#{Corral.Output[Set key].ApiKey} #{Corral.Output[Deploy web][web-01].Url}')).toEqual(['Corral.Output[Set key].ApiKey', 'Corral.Output[Deploy web][web-01].Url']);
  });

  it('takes an unterminated #{ as text, on its line', () => {
    expect(references('echo #{Open')).toEqual([]);
    expect(references('f() #{\n  body\n}')).toEqual([]);
    expect(references('#{ #{Inner}')).toEqual(['Inner']);
  });
});

describe('substitute', () => {
  it('replaces every reference', () => {
    expect(substitute('#{Host}:#{Port}/#{Host}', from({ Host: 'db', Port: '5432' }))).toEqual({ text: 'db:5432/db', unresolved: [] });
  });

  it('turns ##{ into a literal #{', () => {
    expect(substitute('ruby -e \'puts "##{Host}"\' #{Host}', from({ Host: 'db' }))).toEqual({ text: 'ruby -e \'puts "#{Host}"\' db', unresolved: [] });
    expect(substitute('##{', from({}))).toEqual({ text: '#{', unresolved: [] });
  });

  it('leaves unknown names as written and lists them once', () => {
    expect(substitute('#{Nope} #{Host} #{ nope }', from({ Host: 'db' }))).toEqual({ text: '#{Nope} db #{ nope }', unresolved: ['Nope'] });
  });

  it('keeps text without references, and unterminated ones, as it is', () => {
    expect(substitute('echo "${HOME}" # {x} #{open', from({}))).toEqual({ text: 'echo "${HOME}" # {x} #{open', unresolved: [] });
  });

  it('reads names case-insensitively', () => {
    expect(substitute('#{DBHOST} #{dbhost}', from({ DbHost: 'db' })).text).toBe('db db');
    expect(variableKey(' DbHost ')).toBe(variableKey('dbhost'));
  });

  it('substitutes output variable names with brackets', () => {
    const lookup = from({ 'Corral.Output[Deploy web][web-01].Url': 'https://web-01', 'Corral.Output[Set key].ApiKey': 'k' });
    expect(substitute('#{Corral.Output[Deploy web][web-01].Url} #{corral.output[set key].apikey}', lookup).text).toBe('https://web-01 k');
  });

  it('is a single pass: a value holding #{X} is inserted as it is', () => {
    expect(substitute('#{A}', from({ A: '#{B}', B: 'b' }))).toEqual({ text: '#{B}', unresolved: [] });
  });
});

describe('expand', () => {
  it('expands values that refer to others, recursively', () => {
    const { values, unresolved, errors } = expand({ ConnectionString: 'Server=#{DbHost};Password=#{DbPassword}', DbHost: '#{Prefix}-db', Prefix: 'dev', DbPassword: 'pw' });
    expect(values).toEqual({ ConnectionString: 'Server=dev-db;Password=pw', DbHost: 'dev-db', Prefix: 'dev', DbPassword: 'pw' });
    expect(unresolved).toEqual({});
    expect(errors).toEqual({});
  });

  it('reports undefined names per variable, also through the variables it uses', () => {
    const { values, unresolved } = expand({ A: '#{B} #{Nope}', B: '#{Missing}', C: 'fine' });
    expect(values.A).toBe('#{Missing} #{Nope}');
    expect(unresolved).toEqual({ A: ['Missing', 'Nope'], B: ['Missing'] });
  });

  it('names a cycle, for each variable in it and each one using it', () => {
    const { errors, values } = expand({ A: 'a #{B}', B: 'b #{c}', C: 'c #{A}', D: '#{A}', E: 'ok' });
    expect(errors.A).toBe('"A" → "B" → "C" → "A" refer to each other in a cycle');
    expect(errors.B).toBe(errors.A);
    expect(errors.C).toBe(errors.A);
    expect(errors.D).toBe(`"D" uses "A": ${errors.A}`);
    expect(errors.E).toBeUndefined();
    expect(values).toMatchObject({ A: 'a #{B}', D: '#{A}', E: 'ok' });
  });

  it('names a variable that refers to itself', () => {
    expect(expand({ A: 'x#{a}' }).errors).toEqual({ A: '"A" refers to itself' });
  });

  it('turns ##{ into #{ once: an escaped reference is never expanded', () => {
    expect(expand({ A: '##{B} #{B}', B: 'b' }).values.A).toBe('#{B} b');
  });

  it('refuses values nested too deep', () => {
    // V0 → V1 → … → V(MAX + 1) = end: V1 is MAX levels deep, V0 one more.
    const chain = Object.fromEntries(Array.from({ length: MAX_EXPANSION_DEPTH + 1 }, (_, i) => [`V${i}`, `#{V${i + 1}}`]));
    const { errors, values } = expand({ ...chain, [`V${MAX_EXPANSION_DEPTH + 1}`]: 'end' });
    expect(values.V1).toBe('end');
    expect(errors.V1).toBeUndefined();
    expect(errors.V0).toBe(`"V0" refers to variables more than ${MAX_EXPANSION_DEPTH} levels deep`);
  });

  it('refuses values that grow too long (a few doubling each other)', () => {
    const doubling = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`L${i}`, `#{L${i + 1}}#{L${i + 1}}`]));
    const { errors } = expand({ ...doubling, L40: 'xxxxxxxx' });
    expect(errors.L0).toMatch(/^"L0" uses "L1": "L\d+" expands to more than/);
    expect(expand({ Big: 'x'.repeat(MAX_EXPANDED_CHARS + 1) }).errors).toEqual({ Big: `"Big" expands to more than ${MAX_EXPANDED_CHARS} characters` });
  });

  it('refuses to expand more than MAX_EXPANDED_TOTAL_CHARS in all', () => {
    const copies = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`Copy${i}`, '#{Base}']));
    const { errors, values } = expand({ Base: 'x'.repeat(MAX_EXPANDED_CHARS), ...copies });
    const refused = Object.keys(errors);
    expect(refused.length).toBeGreaterThan(30);
    expect(errors[refused[0]]).toMatch(new RegExp(`^the variables expand to more than ${MAX_EXPANDED_TOTAL_CHARS} characters in all, "Copy\\d+" among them$`));
    expect(Object.values(values).reduce((n, v) => n + v.length, 0)).toBeLessThan(MAX_EXPANDED_TOTAL_CHARS + 100 * 10);
  });

  it('survives a chain of thousands of variables', () => {
    // V19999 uses an undefined V20000; those more than MAX levels above it are refused.
    const chain = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`V${i}`, `#{V${i + 1}}`]));
    const { errors, unresolved } = expand(chain);
    expect(Object.keys(errors)).toHaveLength(20_000 - MAX_EXPANSION_DEPTH - 1);
    expect(unresolved.V19967).toEqual(['V20000']);
  });

  it('reads names case-insensitively and keeps their spelling', () => {
    expect(expand({ Url: 'https://#{HOST}', host: 'web' }).values).toEqual({ Url: 'https://web', host: 'web' });
  });
});

describe('render', () => {
  const expansion = expand({ ConnectionString: 'Server=#{DbHost};User=#{DbUser}', DbHost: 'db', Loop: '#{Loop}', Uses: '#{A.B}', Literal: '##{NotMe}' });

  it('substitutes expanded values in one pass', () => {
    expect(render('psql "#{connectionstring}" #{Literal}', expansion)).toEqual({ text: 'psql "Server=db;User=#{DbUser}" #{NotMe}', unresolved: ['DbUser'], errors: [] });
  });

  it('lists unresolved names of the text and of the variables it uses', () => {
    expect(render('#{Nope} #{Uses}', expansion).unresolved).toEqual(['Nope', 'A.B']);
  });

  it('leaves a variable that could not be expanded as its reference, with its error', () => {
    expect(render('run #{Loop}', expansion)).toEqual({ text: 'run #{Loop}', unresolved: [], errors: ['"Loop" refers to itself'] });
  });
});
