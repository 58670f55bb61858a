import { variableKey } from '../protocol/substitution';

/**
 * Which of a variable's values a step sees: the rule, written once (docs/variables.md, "Which
 * value wins", shows it as a table; scope.spec.ts tests each row).
 *
 * - A value **applies** where, for every dimension its scope names, the context has a matching
 *   entry: OR within a dimension, AND across dimensions. A dimension the context lacks (no agent
 *   given) matches no value scoped on it. An empty list is the same as no list.
 * - Of the values that apply, the one whose scope is most specific wins: compare the dimensions
 *   in `SCOPE_PRECEDENCE` order (step, agent, role, environment) and the first one scoped on by
 *   only one of the two decides. So the most specific dimension counts first, and a value scoped
 *   on more dimensions beats one whose dimensions are a subset of its own.
 * - Same dimensions: the project's value beats a library set's, and an earlier set in the
 *   project's list beats a later one.
 * - Anything still tied is a conflict: `conflicts` rejects the ones that can be seen when saving;
 *   `resolve` reports the rest (two role-scoped values on an agent with both roles) as a tie.
 */

/** Scope dimensions, most specific first. Tenant and tenant tag will come between role and environment. */
export const SCOPE_PRECEDENCE = ['step', 'agent', 'role', 'environment'] as const;
export type ScopeDimension = (typeof SCOPE_PRECEDENCE)[number];

/** Environment ids, role names, agent ids and step names a value is limited to. */
export interface VariableScope {
  environments?: string[];
  roles?: string[];
  agents?: string[];
  steps?: string[];
}

/** Where a value is defined; `order` is the set's position in the project's list of sets. */
export type ValueSource = { kind: 'project' } | { kind: 'set'; setId: string; order: number; name?: string };

/** One value of a variable, as far as precedence cares; callers carry the rest of their row along. */
export interface ScopedValue {
  name: string;
  scope: VariableScope;
  source: ValueSource;
}

/** Where a step runs. Entries are matched exactly, as stored (ids, role and step names). */
export interface ScopeContext {
  environmentId?: string;
  agentId?: string;
  roles?: string[];
  step?: string;
}

/** The context's entries that a winning value's scope matched, one per dimension it is scoped on. */
export interface ScopeMatch {
  dimension: ScopeDimension;
  entries: string[];
}

export interface Resolved<T extends ScopedValue> {
  /** The winner's spelling of the name. */
  name: string;
  value: T;
  /** In precedence order; empty for an unscoped value. */
  matched: ScopeMatch[];
  source: ValueSource;
  /** E.g. `project, scoped to environment Dev`. */
  reason: string;
}

/** Values of one name that apply and that precedence cannot tell apart. */
export interface Tie<T extends ScopedValue> {
  name: string;
  values: T[];
}

export interface Resolution<T extends ScopedValue> {
  /** Keyed by `variableKey(name)`: names are case-insensitive. A name none of whose values applies is absent. */
  values: Map<string, Resolved<T>>;
  ties: Tie<T>[];
}

/** How an id appears in a reason (`environment`, `env-uuid` → `Dev`); the set's name or id otherwise. */
export type ScopeLabel = (dimension: ScopeDimension, entry: string) => string;

const SCOPE_FIELD: Record<ScopeDimension, keyof VariableScope> = { step: 'steps', agent: 'agents', role: 'roles', environment: 'environments' };

const CONTEXT_ENTRIES: Record<ScopeDimension, (c: ScopeContext) => readonly string[]> = {
  step: (c) => (c.step === undefined ? [] : [c.step]),
  agent: (c) => (c.agentId === undefined ? [] : [c.agentId]),
  role: (c) => c.roles ?? [],
  environment: (c) => (c.environmentId === undefined ? [] : [c.environmentId]),
};

const scopedOn = (scope: VariableScope, dimension: ScopeDimension): readonly string[] => scope[SCOPE_FIELD[dimension]] ?? [];

/** The context's entries each dimension of the scope matched, or null when the value does not apply there. */
export function matchScope(scope: VariableScope, context: ScopeContext): ScopeMatch[] | null {
  const matched: ScopeMatch[] = [];
  for (const dimension of SCOPE_PRECEDENCE) {
    const allowed = scopedOn(scope, dimension);
    if (allowed.length === 0) continue;
    const entries = CONTEXT_ENTRIES[dimension](context).filter((e) => allowed.includes(e));
    if (entries.length === 0) return null;
    matched.push({ dimension, entries });
  }
  return matched;
}

/** Negative when `a` wins over `b`, positive when `b` does, 0 for a tie. Both are assumed to apply. */
export function comparePrecedence(a: ScopedValue, b: ScopedValue): number {
  for (const dimension of SCOPE_PRECEDENCE) {
    const inA = scopedOn(a.scope, dimension).length > 0;
    const inB = scopedOn(b.scope, dimension).length > 0;
    if (inA !== inB) return inA ? -1 : 1;
  }
  return sourceRank(a.source) - sourceRank(b.source);
}

// The project before its sets, the sets in the project's order.
const sourceRank = (source: ValueSource) => (source.kind === 'project' ? -1 : source.order);

/** The winning value of each name in this context, with where it came from; ties are reported, not decided. */
export function resolve<T extends ScopedValue>(values: readonly T[], context: ScopeContext, label: ScopeLabel = (_d, entry) => entry): Resolution<T> {
  const applicable = new Map<string, { value: T; matched: ScopeMatch[] }[]>();
  for (const value of values) {
    const matched = matchScope(value.scope, context);
    if (!matched) continue;
    const key = variableKey(value.name);
    applicable.set(key, [...(applicable.get(key) ?? []), { value, matched }]);
  }
  const resolution: Resolution<T> = { values: new Map(), ties: [] };
  for (const [key, candidates] of applicable) {
    // Stable: among tied values, the first given is listed first.
    const ranked = [...candidates].sort((a, b) => comparePrecedence(a.value, b.value));
    const [best] = ranked;
    const tied = ranked.filter((c) => comparePrecedence(c.value, best.value) === 0);
    if (tied.length > 1) {
      resolution.ties.push({ name: best.value.name, values: tied.map((c) => c.value) });
      continue;
    }
    const { value, matched } = best;
    resolution.values.set(key, { name: value.name, value, matched, source: value.source, reason: describeSource(value.source, matched, label) });
  }
  return resolution;
}

/**
 * Pairs of values that would tie wherever both apply, found without a context: same name, same
 * owner, scoped on the same dimensions, and in each of them sharing an entry (or both unscoped).
 * Values scoped to different roles are not among them, though an agent with both roles sees a
 * tie: `resolve` reports that one.
 */
export function conflicts<T extends ScopedValue>(values: readonly T[]): [T, T][] {
  const pairs: [T, T][] = [];
  const byName = new Map<string, T[]>();
  for (const v of values) byName.set(variableKey(v.name), [...(byName.get(variableKey(v.name)) ?? []), v]);
  for (const group of byName.values()) {
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) {
        if (couldTie(group[i], group[j])) pairs.push([group[i], group[j]]);
      }
    }
  }
  return pairs;
}

function couldTie(a: ScopedValue, b: ScopedValue): boolean {
  if (!sameOwner(a.source, b.source)) return false;
  return SCOPE_PRECEDENCE.every((dimension) => {
    const inA = scopedOn(a.scope, dimension);
    const inB = scopedOn(b.scope, dimension);
    if (inA.length === 0 || inB.length === 0) return inA.length === inB.length;
    return inA.some((e) => inB.includes(e));
  });
}

const sameOwner = (a: ValueSource, b: ValueSource) => (a.kind === 'project' ? b.kind === 'project' : b.kind === 'set' && a.setId === b.setId);

/** `project, unscoped`, `library set Common, scoped to agent web-01 and environment Dev`. */
export function describeSource(source: ValueSource, matched: readonly ScopeMatch[], label: ScopeLabel = (_d, entry) => entry): string {
  const owner = source.kind === 'project' ? 'project' : `library set ${source.name ?? source.setId}`;
  if (matched.length === 0) return `${owner}, unscoped`;
  const parts = matched.map(({ dimension, entries }) => `${dimension}${entries.length > 1 ? 's' : ''} ${entries.map((e) => label(dimension, e)).join(', ')}`);
  const listed = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}` : parts[0];
  return `${owner}, scoped to ${listed}`;
}
