/**
 * `#{Name}` templates in step scripts, step fields and variable values.
 *
 * - `#{Name}` is a reference: the name is the text up to the next `}` on the same line, trimmed
 *   (`#{Corral.Output[Deploy web][web-01].Url}`). A reference does not span lines, so a `#{` with
 *   no `}` after it on its line is literal text.
 * - `##{` is a literal `#{`: `##{Name}` becomes `#{Name}`, unsubstituted.
 * - Names are case-insensitive, as in Octopus (`#{dbhost}` reads `DbHost`); results keep the
 *   spelling they were written with.
 * - `substitute` is a single pass: a value containing `#{X}` is inserted as it is. Values that
 *   refer to other values are expanded first, by `expand`.
 *
 * Shared with the agent: plain TypeScript, no imports.
 */

/** How deep values may refer to values (`A` uses `B` uses `C` … ), and how long one may become. */
export const MAX_EXPANSION_DEPTH = 32;
// As long as a script may be: an expanded value ends up in one.
export const MAX_EXPANDED_CHARS = 256 * 1024;
// All expanded values together: a few values doubling each other (`#{B}#{B}`) must not fill memory.
export const MAX_EXPANDED_TOTAL_CHARS = 16 * 1024 * 1024;

type Token = { kind: 'text'; text: string } | { kind: 'reference'; name: string; raw: string };

// `##{`, or `#{` … `}` on one line with no other `#{` inside (so `#{ #{A}` reads as text then `#{A}`).
const TOKEN = /##\{|#\{((?:[^}#\n]|#(?!\{))*)\}/g;

/** The key a name is compared by: names are case-insensitive and trimmed. */
export function variableKey(name: string): string {
  return name.trim().toLowerCase();
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    if (match.index > last) tokens.push({ kind: 'text', text: text.slice(last, match.index) });
    tokens.push(match[1] === undefined ? { kind: 'text', text: '#{' } : { kind: 'reference', name: match[1].trim(), raw: match[0] });
    last = match.index + match[0].length;
  }
  if (last < text.length) tokens.push({ kind: 'text', text: text.slice(last) });
  return tokens;
}

// Names once each, case-insensitively, in the order first seen, with their first spelling.
function distinct(names: Iterable<string>): string[] {
  const seen = new Map<string, string>();
  for (const name of names) if (!seen.has(variableKey(name))) seen.set(variableKey(name), name);
  return [...seen.values()];
}

/** The names `text` refers to, once each, in order; escaped ones (`##{`) are not references. */
export function references(text: string): string[] {
  return distinct(tokenize(text).flatMap((t) => (t.kind === 'reference' ? [t.name] : [])));
}

// By name, case-insensitively; of names differing only in case, the last wins.
const byKey = <V>(record: Record<string, V>) => new Map(Object.entries(record).map(([name, v]) => [variableKey(name), v]));

/** Looks names up case-insensitively in a record; of names differing only in case, the last wins. */
export function lookupIn(values: Record<string, string>): (name: string) => string | undefined {
  const map = byKey(values);
  return (name) => map.get(variableKey(name));
}

/**
 * Replaces each reference with `lookup(name)`, once: what a value contains is not substituted
 * again. An unknown name is left in the text as written and listed in `unresolved`; callers
 * must not run such text.
 */
export function substitute(text: string, lookup: (name: string) => string | undefined): { text: string; unresolved: string[] } {
  const unresolved: string[] = [];
  let out = '';
  for (const token of tokenize(text)) {
    if (token.kind === 'text') {
      out += token.text;
      continue;
    }
    const value = lookup(token.name);
    if (value === undefined) unresolved.push(token.name);
    out += value ?? token.raw;
  }
  return { text: out, unresolved: distinct(unresolved) };
}

export interface Expansion {
  /** Every variable, its references to others replaced by their expanded values; one with an error keeps its own text. */
  values: Record<string, string>;
  /** Per variable, the undefined names it uses, directly or through other variables (left in its text as written). */
  unresolved: Record<string, string[]>;
  /** Per variable that cannot be expanded, why: a cycle (named), too deep, too long, or it uses such a variable. */
  errors: Record<string, string>;
}

/**
 * Expands references between variables (`ConnectionString = Server=#{DbHost};Password=#{DbPassword}`),
 * as Octopus does, so that a step needs only one `substitute` pass. Names are case-insensitive;
 * results are keyed by the names as given (of names differing only in case, the last one given wins).
 */
export function expand(variables: Record<string, string>): Expansion {
  const defined = new Map<string, { name: string; tokens: Token[] }>();
  for (const [name, value] of Object.entries(variables)) defined.set(variableKey(name), { name, tokens: tokenize(value) });
  const depsOf = (key: string) => defined.get(key)!.tokens.flatMap((t) => (t.kind === 'reference' && defined.has(variableKey(t.name)) ? [variableKey(t.name)] : []));

  // Depth-first, with an explicit stack (a long chain cannot overflow the call stack): `order`
  // lists each variable after those it uses, and a reference back to one still open is a cycle.
  const errors = new Map<string, string>();
  const order: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  for (const start of defined.keys()) {
    if (state.has(start)) continue;
    state.set(start, 'open');
    const stack = [{ key: start, deps: depsOf(start), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next === top.deps.length) {
        state.set(top.key, 'done');
        order.push(top.key);
        stack.pop();
        continue;
      }
      const dep = top.deps[top.next++];
      if (!state.has(dep)) {
        state.set(dep, 'open');
        stack.push({ key: dep, deps: depsOf(dep), next: 0 });
      } else if (state.get(dep) === 'open') {
        const cycle = stack.slice(stack.findIndex((f) => f.key === dep));
        const names = [...cycle, cycle[0]].map((f) => `"${defined.get(f.key)!.name}"`);
        const message = names.length === 2 ? `${names[0]} refers to itself` : `${names.join(' → ')} refer to each other in a cycle`;
        for (const f of cycle) if (!errors.has(f.key)) errors.set(f.key, message);
      }
    }
  }

  // Each variable after those it uses: their results are known when it is reached, except in a
  // cycle, which already has its error. `cause` keeps a failure's first reason, to quote it once.
  const done = new Map<string, { value: string; depth: number; unresolved: string[] }>();
  const cause = new Map(errors);
  const expansion: Expansion = { values: {}, unresolved: {}, errors: {} };
  let total = 0;
  for (const key of order) {
    const { name, tokens } = defined.get(key)!;
    let error = errors.get(key);
    let value = '';
    let depth = 0;
    const unresolved: string[] = [];
    for (const token of error === undefined ? tokens : []) {
      const used = token.kind === 'reference' ? defined.get(variableKey(token.name)) : undefined;
      if (token.kind === 'text') value += token.text;
      else if (!used) {
        unresolved.push(token.name);
        value += token.raw;
      } else {
        const inner = done.get(variableKey(used.name));
        if (!inner) {
          cause.set(key, cause.get(variableKey(used.name))!);
          error = `"${name}" uses "${used.name}": ${cause.get(key)}`;
          break;
        }
        value += inner.value;
        depth = Math.max(depth, inner.depth + 1);
        unresolved.push(...inner.unresolved);
      }
      if (value.length > MAX_EXPANDED_CHARS) error = `"${name}" expands to more than ${MAX_EXPANDED_CHARS} characters`;
      else if (depth > MAX_EXPANSION_DEPTH) error = `"${name}" refers to variables more than ${MAX_EXPANSION_DEPTH} levels deep`;
      else if (total + value.length > MAX_EXPANDED_TOTAL_CHARS) error = `the variables expand to more than ${MAX_EXPANDED_TOTAL_CHARS} characters in all, "${name}" among them`;
      if (error !== undefined) {
        if (!cause.has(key)) cause.set(key, error);
        break;
      }
    }
    if (error !== undefined) {
      expansion.errors[name] = error;
      expansion.values[name] = variables[name];
      continue;
    }
    total += value.length;
    done.set(key, { value, depth, unresolved: distinct(unresolved) });
    expansion.values[name] = value;
    if (unresolved.length > 0) expansion.unresolved[name] = distinct(unresolved);
  }
  return expansion;
}

/**
 * `substitute` over expanded variables, also reporting what the variables it uses lack: their
 * undefined names join `unresolved`, and a variable that could not be expanded is left as its
 * reference, with its error in `errors`. Run the text only when both lists are empty.
 */
export function render(text: string, expansion: Expansion): { text: string; unresolved: string[]; errors: string[] } {
  const values = byKey(expansion.values);
  const errors = byKey(expansion.errors);
  const inner = byKey(expansion.unresolved);
  const result = substitute(text, (name) => (errors.has(variableKey(name)) ? undefined : values.get(variableKey(name))));
  const used = references(text);
  return {
    text: result.text,
    unresolved: distinct([...result.unresolved.filter((n) => !errors.has(variableKey(n))), ...used.flatMap((n) => inner.get(variableKey(n)) ?? [])]),
    errors: used.flatMap((n) => errors.get(variableKey(n)) ?? []),
  };
}
