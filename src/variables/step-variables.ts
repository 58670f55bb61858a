import { expand, references, render, variableKey } from '../protocol/substitution';
import { resolve, type ScopeContext, type ScopeLabel } from './scope';
import { SYSTEM_PREFIX } from './variables.schema';
import type { OpenValue } from './variables.service';

/** A value as one step on one agent sees it: resolved, with references to other values expanded. */
export interface StepVariable {
  name: string;
  value: string;
  /** It is sensitive, or uses a sensitive value. */
  sensitive: boolean;
  /** Where it came from, e.g. `project, scoped to environment Dev`. */
  reason: string;
}

export interface StepVariables {
  variables: StepVariable[];
  /** Why a text using these cannot run: names used but not defined here (except those `assumed` to be, later), ties, cycles; each says which name. */
  problems(text: string, assumed?: (name: string) => boolean): string[];
}

/** A value Corral gives a step (a system variable, an output of an earlier step): read-only, beside the users' values. */
export interface ProvidedValue {
  name: string;
  value: string;
  sensitive: boolean;
  reason: string;
}

/** An answer given in the deployment request to a prompted variable. */
export interface PromptAnswer {
  value: string;
  sensitive: boolean;
}

/**
 * What a step sees where it runs: the winning value of each name (scope.ts), the answers to
 * prompts in place of their defaults, what Corral provides (system variables, outputs of earlier
 * steps), all expanded (substitution.ts).
 * A prompted value with neither answer nor default is left undefined, so a text using it cannot run.
 */
export function stepVariables(
  values: OpenValue[],
  context: ScopeContext,
  provided: ProvidedValue[],
  answers: Map<string, PromptAnswer> = new Map(),
  label?: ScopeLabel,
  /** Why a name Corral could give is not defined here (an output several agents set), by its key. */
  unavailable: Map<string, string> = new Map(),
): StepVariables {
  const { values: winners, ties } = resolve(values, context, label);
  const own = new Map<string, { name: string; value: string; sensitive: boolean; reason: string }>();
  for (const [key, won] of winners) {
    const answer = won.value.prompt ? answers.get(key) : undefined;
    const value = answer?.value ?? won.value.value;
    if (value === null) continue;
    own.set(key, { name: won.name, value, sensitive: won.value.sensitive || (answer?.sensitive ?? false), reason: answer ? 'given when the deployment was asked for' : won.reason });
  }
  for (const v of provided) own.set(variableKey(v.name), v);

  const expansion = expand(Object.fromEntries([...own.values()].map((v) => [v.name, v.value])));
  const sensitive = sensitiveClosure(own);
  const tied = new Map(ties.map((t) => [variableKey(t.name), t]));
  const variables = [...own.entries()].map(([key, v]) => ({ name: v.name, value: expansion.values[v.name] ?? v.value, sensitive: sensitive.has(key), reason: v.reason }));
  return {
    variables,
    problems(text: string, assumed = () => false) {
      const { unresolved, errors } = render(text, expansion);
      const problems = [...errors];
      for (const name of unresolved.filter((n) => !assumed(n))) {
        const tie = tied.get(variableKey(name));
        const why = unavailable.get(variableKey(name));
        problems.push(tie ? `#{${name}} has ${tie.values.length} values that apply equally here; narrow their scopes` : why ? `#{${name}} ${why}` : `#{${name}} is not defined here`);
      }
      return problems;
    },
  };
}

/** The keys of values that are sensitive or use one, directly or through other values. */
function sensitiveClosure(values: Map<string, { value: string; sensitive: boolean }>): Set<string> {
  const sensitive = new Set([...values].filter(([, v]) => v.sensitive).map(([key]) => key));
  for (let changed = true; changed;) {
    changed = false;
    for (const [key, v] of values) {
      if (!sensitive.has(key) && references(v.value).some((name) => sensitive.has(variableKey(name)))) {
        sensitive.add(key);
        changed = true;
      }
    }
  }
  return sensitive;
}

/** Whether a name is one of Corral's (system variables, outputs of earlier steps): defined by Corral, not by users. */
export const isSystemName = (name: string) => variableKey(name).startsWith(variableKey(SYSTEM_PREFIX));
