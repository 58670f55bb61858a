import type { Named, Variable, VariableScope } from '../api/types';

/** A value's scope as the editor holds it: environments and agents with their names, for the chips. */
export interface ScopeDraft {
  environments: Named[];
  agents: Named[];
  roles: string[];
  steps: string[];
}

/** One value of a list being edited. */
export interface VariableDraft {
  key: number;
  /** Set for a value read from the API; a sensitive one sent with it and no value keeps what it had. */
  id: string | undefined;
  name: string;
  description: string;
  sensitive: boolean;
  /** What was typed here. Never a saved sensitive value: the API does not send those. */
  value: string;
  /** A saved sensitive value the server keeps; nothing is typed for it until it is replaced. */
  keepsSaved: boolean;
  /** It was read as sensitive: turning that off needs a new value. */
  savedSensitive: boolean;
  /** It was read as sensitive with a value. */
  savedHasValue: boolean;
  scope: ScopeDraft;
  prompted: boolean;
  promptLabel: string;
  promptRequired: boolean;
}

/** A value as PUT /variables takes it (variables.schema.ts on the server checks every field). */
export interface VariableInput {
  id?: string;
  name: string;
  value?: string;
  sensitive: boolean;
  description: string;
  scope?: { environments?: string[]; agents?: string[]; roles?: string[]; steps?: string[] };
  prompt: { label?: string; required: boolean } | null;
}

let nextKey = 0;

export function blankVariable(): VariableDraft {
  return {
    key: nextKey++,
    id: undefined,
    name: '',
    description: '',
    sensitive: false,
    value: '',
    keepsSaved: false,
    savedSensitive: false,
    savedHasValue: false,
    scope: { environments: [], agents: [], roles: [], steps: [] },
    prompted: false,
    promptLabel: '',
    promptRequired: false,
  };
}

// A name is null once its environment or agent is gone: the id still says which one it was.
const named = (list: { id: string; name: string | null }[] | undefined): Named[] => (list ?? []).map((x) => ({ id: x.id, name: x.name ?? x.id }));

export function draftOf(v: Variable): VariableDraft {
  return {
    ...blankVariable(),
    id: v.id,
    name: v.name,
    description: v.description,
    sensitive: v.sensitive,
    value: v.sensitive ? '' : (v.value ?? ''),
    keepsSaved: v.sensitive && v.hasValue,
    savedSensitive: v.sensitive,
    savedHasValue: v.sensitive && v.hasValue,
    scope: { environments: named(v.scope.environments), agents: named(v.scope.agents), roles: [...(v.scope.roles ?? [])], steps: [...(v.scope.steps ?? [])] },
    prompted: v.prompt !== null,
    promptLabel: v.prompt?.label ?? '',
    promptRequired: v.prompt?.required ?? false,
  };
}

/** Turns sensitivity on or off: back on, a saved secret nobody replaced is kept; off, the value must be typed again. */
export function withSensitive(d: VariableDraft, sensitive: boolean): VariableDraft {
  return sensitive ? { ...d, sensitive, keepsSaved: d.savedHasValue && d.value === '' } : { ...d, sensitive, keepsSaved: false };
}

/** Starts typing a new value in place of a saved secret. */
export function replacingSecret(d: VariableDraft): VariableDraft {
  return { ...d, keepsSaved: false, value: '' };
}

/** Goes back to the saved secret, forgetting what was typed. */
export function keepingSecret(d: VariableDraft): VariableDraft {
  return d.savedHasValue ? { ...d, sensitive: true, keepsSaved: true, value: '' } : d;
}

function scopeInput(s: ScopeDraft): VariableInput['scope'] {
  const scope = {
    ...(s.environments.length ? { environments: s.environments.map((e) => e.id) } : {}),
    ...(s.agents.length ? { agents: s.agents.map((a) => a.id) } : {}),
    ...(s.roles.length ? { roles: s.roles } : {}),
    ...(s.steps.length ? { steps: s.steps } : {}),
  };
  return Object.keys(scope).length ? scope : undefined;
}

/**
 * The value as the API takes it. A kept secret goes without `value`; so does an empty value
 * where empty means "none": a sensitive one (the server then says it needs one), one that stops
 * being sensitive (the server asks for its new value) and a prompted one (no default).
 */
export function inputOf(d: VariableDraft): VariableInput {
  const withheld = (d.sensitive && d.keepsSaved) || (d.value === '' && (d.sensitive || d.savedSensitive || d.prompted));
  const scope = scopeInput(d.scope);
  const label = d.promptLabel.trim();
  return {
    ...(d.id ? { id: d.id } : {}),
    name: d.name.trim(),
    ...(withheld ? {} : { value: d.value }),
    sensitive: d.sensitive,
    description: d.description,
    ...(scope ? { scope } : {}),
    prompt: d.prompted ? { ...(label ? { label } : {}), required: d.promptRequired } : null,
  };
}

/** "environment Dev, role web" — how a scope reads in a list; "everywhere" when it has none. */
export function describeScope(scope: VariableScope): string {
  const parts = [
    ...(scope.environments ?? []).map((e) => `environment ${e.name ?? e.id}`),
    ...(scope.roles ?? []).map((r) => `role ${r}`),
    ...(scope.agents ?? []).map((a) => `agent ${a.name ?? a.id}`),
    ...(scope.steps ?? []).map((s) => `step ${s}`),
  ];
  return parts.length ? parts.join(', ') : 'everywhere';
}

/** A variable a deployment asks for, once per name (names are case-insensitive). */
export interface Prompt {
  name: string;
  label: string;
  required: boolean;
  sensitive: boolean;
  /** What the field starts with: the default when it is one plain value. */
  initial: string;
  /** Left empty, the release's own value is used. */
  hasDefault: boolean;
}

/** Where a prompt's answer is kept: names are case-insensitive, as on the server. */
export const promptKey = (name: string) => name.trim().toLowerCase();

/** The prompted variables of a release's snapshot, in their order, one per name. */
export function promptsOf(variables: Variable[]): Prompt[] {
  const byName = new Map<string, Variable[]>();
  for (const v of variables) {
    if (!v.prompt) continue;
    const list = byName.get(promptKey(v.name)) ?? [];
    list.push(v);
    byName.set(promptKey(v.name), list);
  }
  return [...byName.values()].map((values) => {
    const [first] = values;
    const hasValue = (v: Variable) => (v.sensitive ? v.hasValue : v.value !== null);
    // Scoped defaults differ by where the step runs: only a single plain one can fill the field.
    const single = values.length === 1 && !first.sensitive ? first.value : null;
    return {
      name: first.name,
      label: first.prompt!.label || first.name,
      required: values.some((v) => v.prompt!.required),
      sensitive: values.some((v) => v.sensitive),
      initial: single ?? '',
      hasDefault: values.some(hasValue),
    };
  });
}

/** The `variables` of a deployment request: what was typed, by name; an empty field is left out. */
export function answersOf(prompts: Prompt[], typed: Record<string, string | undefined>): Record<string, string> {
  const answers: Record<string, string> = {};
  for (const p of prompts) {
    const value = typed[promptKey(p.name)] ?? p.initial;
    if (value !== '') answers[p.name] = value;
  }
  return answers;
}

/**
 * The `variables` of a deployment preview. A required value must be given to deploy at all, so
 * the preview counts it as given (else the preview itself is refused until every one is typed)
 * and shows what the rest of the plan would do.
 */
export function previewAnswersOf(prompts: Prompt[], typed: Record<string, string | undefined>): Record<string, string> {
  const answers = answersOf(prompts, typed);
  for (const p of prompts) if (p.required && !(p.name in answers)) answers[p.name] = '';
  return answers;
}
