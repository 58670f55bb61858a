import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { comparePrecedence, conflicts, describeSource, matchScope, resolve, SCOPE_PRECEDENCE, type ScopeContext, type ScopedValue, type VariableScope } from './scope';

// The rows of "Which value wins" in docs/variables.md, in the same order; each test names its row.

type Value = ScopedValue & { value: string };

const project = (value: string, scope: VariableScope = {}, name = 'DbHost'): Value => ({ name, value, scope, source: { kind: 'project' } });
const inSet = (set: string, order: number, value: string, scope: VariableScope = {}, name = 'DbHost'): Value => ({ name, value, scope, source: { kind: 'set', setId: set, name: set, order } });

// web-01 (role web) deploying to Dev, in the step "Deploy".
const web01: ScopeContext = { environmentId: 'Dev', agentId: 'web-01', roles: ['web'], step: 'Deploy' };

const winner = (values: Value[], context: ScopeContext = web01) => resolve(values, context).values.get('dbhost')?.value.value;

describe('which value wins', () => {
  it('row 1: an unscoped value applies everywhere', () => {
    expect(winner([project('a')])).toBe('a');
  });

  it('row 2: a value scoped to the environment beats an unscoped one', () => {
    expect(winner([project('a'), project('b', { environments: ['Dev'] })])).toBe('b');
  });

  it('row 3: a value scoped to another environment does not apply', () => {
    expect(winner([project('a'), project('b', { environments: ['Prod'] })])).toBe('a');
  });

  it('row 4: entries of one dimension are OR-ed', () => {
    expect(winner([project('a'), project('b', { environments: ['Dev', 'Test'] })], { ...web01, environmentId: 'Test' })).toBe('b');
  });

  it('row 5: dimensions are AND-ed', () => {
    expect(winner([project('a'), project('b', { environments: ['Dev'], roles: ['db'] })])).toBe('a');
  });

  it('row 6: a dimension the context lacks matches nothing', () => {
    expect(winner([project('a'), project('b', { agents: ['web-01'] })], { environmentId: 'Dev' })).toBe('a');
  });

  it('row 7: role beats environment', () => {
    expect(winner([project('b', { environments: ['Dev'] }), project('c', { roles: ['web'] })])).toBe('c');
  });

  it('row 8: agent beats role', () => {
    expect(winner([project('c', { roles: ['web'] }), project('d', { agents: ['web-01'] })])).toBe('d');
  });

  it('row 9: step beats agent', () => {
    expect(winner([project('d', { agents: ['web-01'] }), project('e', { steps: ['Migrate'] })], { ...web01, step: 'Migrate' })).toBe('e');
  });

  it('row 10: more dimensions beat a subset of them', () => {
    expect(winner([project('c', { roles: ['web'] }), project('f', { roles: ['web'], environments: ['Dev'] })])).toBe('f');
  });

  it('row 11: the most specific dimension counts before the number of dimensions', () => {
    expect(winner([project('d', { agents: ['web-01'] }), project('g', { roles: ['web'], environments: ['Dev'] })])).toBe('d');
  });

  it('row 12: on the same most specific dimension, the next one decides', () => {
    const h = project('h', { steps: ['Deploy'], agents: ['web-01'] });
    const i = project('i', { steps: ['Deploy'], roles: ['web'], environments: ['Dev'] });
    expect(winner([i, h])).toBe('h');
  });

  it('row 13: on the same dimensions, the project beats a library set', () => {
    expect(winner([inSet('Common', 0, 's', { environments: ['Dev'] }), project('p', { environments: ['Dev'] })])).toBe('p');
  });

  it('row 14: scope counts before source', () => {
    expect(winner([project('p', { environments: ['Dev'] }), inSet('Common', 0, 's', { roles: ['web'] })])).toBe('s');
  });

  it('row 15: of two library sets, the earlier in the project’s list wins', () => {
    expect(winner([inSet('Shared', 1, 'later'), inSet('Common', 0, 'earlier')])).toBe('earlier');
  });

  it('row 16: values still tied are a conflict, not a winner', () => {
    const web = project('w', { roles: ['web'] });
    const db = project('d', { roles: ['db'] });
    const resolution = resolve([web, db], { ...web01, roles: ['web', 'db'] });
    expect(resolution.values.has('dbhost')).toBe(false);
    expect(resolution.ties).toEqual([{ name: 'DbHost', values: [web, db] }]);
  });

  it('row 17: when no value applies, the variable is absent', () => {
    const resolution = resolve([project('b', { environments: ['Prod'] })], web01);
    expect(resolution.values.size).toBe(0);
    expect(resolution.ties).toEqual([]);
  });

  it('row 18: names differing only in case are one variable', () => {
    const resolution = resolve([project('a'), project('b', { environments: ['Dev'] }, 'dbhost')], web01);
    expect([...resolution.values.keys()]).toEqual(['dbhost']);
    expect(resolution.values.get('dbhost')).toMatchObject({ name: 'dbhost', value: { value: 'b' } });
  });
});

describe('resolve', () => {
  it('says which scope and source the winner came from, with names for ids', () => {
    const values = [project('a'), inSet('set-1', 0, 'b', { environments: ['env-dev', 'env-test'], roles: ['web', 'api'] })];
    const label = (dimension: string, id: string) => (dimension === 'environment' ? { 'env-dev': 'Dev', 'env-test': 'Test' }[id]! : id);
    const won = resolve(values, { environmentId: 'env-dev', roles: ['web', 'api', 'db'] }, label).values.get('dbhost')!;
    expect(won.value).toBe(values[1]);
    expect(won.source).toEqual({ kind: 'set', setId: 'set-1', name: 'set-1', order: 0 });
    expect(won.matched).toEqual([
      { dimension: 'role', entries: ['web', 'api'] },
      { dimension: 'environment', entries: ['env-dev'] },
    ]);
    expect(won.reason).toBe('library set set-1, scoped to roles web, api and environment Dev');
  });

  it('describes an unscoped project value', () => {
    expect(resolve([project('a')], {}).values.get('dbhost')!.reason).toBe('project, unscoped');
    expect(describeSource({ kind: 'set', setId: 'id-1', order: 2 }, [{ dimension: 'step', entries: ['Migrate'] }])).toBe('library set id-1, scoped to step Migrate');
  });

  it('resolves each name on its own', () => {
    const resolution = resolve([project('h1', {}, 'Host'), project('p1', {}, 'Port'), project('h2', { environments: ['Dev'] }, 'Host')], web01);
    expect([...resolution.values.values()].map((r) => [r.name, r.value.value])).toEqual([
      ['Host', 'h2'],
      ['Port', 'p1'],
    ]);
  });

  it('keeps what the caller carries on each value', () => {
    const value = { ...project('a'), id: 'row-1', sensitive: true };
    expect(resolve([value], web01).values.get('dbhost')!.value).toBe(value);
  });
});

describe('matchScope', () => {
  it('matches an empty scope, or empty lists, everywhere, even with no context', () => {
    expect(matchScope({}, {})).toEqual([]);
    expect(matchScope({ environments: [], roles: [] }, {})).toEqual([]);
  });

  it('applies when every dimension named matches', () => {
    expect(matchScope({ steps: ['Deploy'], agents: ['web-01', 'web-02'], roles: ['db', 'web'], environments: ['Dev'] }, web01)).toEqual([
      { dimension: 'step', entries: ['Deploy'] },
      { dimension: 'agent', entries: ['web-01'] },
      { dimension: 'role', entries: ['web'] },
      { dimension: 'environment', entries: ['Dev'] },
    ]);
  });

  it('does not apply when one dimension does not match, or the context lacks it', () => {
    expect(matchScope({ steps: ['Migrate'], environments: ['Dev'] }, web01)).toBeNull();
    expect(matchScope({ agents: ['web-02'] }, web01)).toBeNull();
    expect(matchScope({ roles: ['db'] }, web01)).toBeNull();
    expect(matchScope({ roles: ['web'] }, { environmentId: 'Dev' })).toBeNull();
    expect(matchScope({ steps: ['Deploy'] }, { environmentId: 'Dev' })).toBeNull();
  });

  it('matches entries exactly, as stored', () => {
    expect(matchScope({ roles: ['Web'] }, web01)).toBeNull();
  });
});

describe('comparePrecedence', () => {
  it('is a tie for two project values on the same dimensions, and for the same set', () => {
    expect(comparePrecedence(project('a', { roles: ['web'] }), project('b', { roles: ['db'] }))).toBe(0);
    expect(comparePrecedence(inSet('S', 0, 'a'), inSet('S', 0, 'b'))).toBe(0);
  });

  it('follows SCOPE_PRECEDENCE: each dimension beats every less specific one', () => {
    const scopeOn = { step: { steps: ['x'] }, agent: { agents: ['x'] }, role: { roles: ['x'] }, environment: { environments: ['x'] } };
    SCOPE_PRECEDENCE.forEach((more, i) => {
      for (const less of SCOPE_PRECEDENCE.slice(i + 1)) expect(comparePrecedence(project('a', scopeOn[more]), project('b', scopeOn[less]))).toBeLessThan(0);
      expect(comparePrecedence(project('a', scopeOn[more]), project('b'))).toBeLessThan(0);
    });
  });
});

describe('conflicts (checked when saving)', () => {
  it('row S1: two unscoped values of one owner conflict', () => {
    const [a, b] = [project('a'), project('b')];
    expect(conflicts([a, b])).toEqual([[a, b]]);
  });

  it('row S2: overlapping lists on the same dimensions conflict', () => {
    const a = project('a', { environments: ['Dev', 'Test'], roles: ['web'] });
    const b = project('b', { environments: ['Test'], roles: ['web', 'db'] });
    expect(conflicts([a, b])).toEqual([[a, b]]);
  });

  it('row S3: disjoint lists in one dimension do not conflict', () => {
    expect(conflicts([project('a', { environments: ['Dev'], roles: ['web'] }), project('b', { environments: ['Prod'], roles: ['web'] })])).toEqual([]);
  });

  it('row S4: different dimensions do not conflict', () => {
    expect(conflicts([project('a', { environments: ['Dev'] }), project('b', { roles: ['web'] }), project('c', { environments: ['Dev'], roles: ['web'] })])).toEqual([]);
  });

  it('row S5: different owners do not conflict', () => {
    expect(conflicts([project('a'), inSet('Common', 0, 'b'), inSet('Shared', 1, 'c')])).toEqual([]);
  });

  it('row S6: different roles are accepted (an agent with both ties at deployment, row 16)', () => {
    expect(conflicts([project('w', { roles: ['web'] }), project('d', { roles: ['db'] })])).toEqual([]);
  });

  it('row S7: names differing only in case conflict', () => {
    const [a, b] = [project('a', {}, 'DbHost'), project('b', {}, 'dbhost')];
    expect(conflicts([a, b])).toEqual([[a, b]]);
  });

  it('lists every conflicting pair, and values of different names never', () => {
    const [a, b, c] = [project('a'), project('b'), project('c')];
    expect(conflicts([a, project('x', {}, 'Port'), b, c])).toEqual([
      [a, b],
      [a, c],
      [b, c],
    ]);
  });

  it('finds conflicts within one library set', () => {
    const [a, b] = [inSet('Common', 0, 'a', { agents: ['web-01'] }), inSet('Common', 0, 'b', { agents: ['web-01', 'web-02'] })];
    expect(conflicts([a, b])).toEqual([[a, b]]);
  });
});

describe('docs/variables.md', () => {
  const doc = readFileSync(join(__dirname, '../../docs/variables.md'), 'utf8');

  it('states the precedence in SCOPE_PRECEDENCE’s order', () => {
    expect(doc).toContain(`Precedence, most specific first: ${SCOPE_PRECEDENCE.join(' · ')} · unscoped.`);
  });

  it('has one row per "row N" test above', () => {
    const section = doc.slice(doc.indexOf('## Which value wins'));
    const rows = (table: string) => [...section.matchAll(new RegExp(`^\\| ${table}(\\d+) \\|`, 'gm'))].map((m) => Number(m[1]));
    expect(rows('')).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    expect(rows('S')).toEqual(Array.from({ length: 7 }, (_, i) => i + 1));
  });
});
