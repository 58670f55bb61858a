import { type FormEvent, type ReactNode, useState } from 'react';
import { ApiError, messageOf, put } from '../api/api-client';
import type { Named, Variable } from '../api/types';
import { useResource } from '../api/use-resource';
import { type ChipOption, ChipPicker } from '../components/chip-picker';
import { Empty, Loadable } from '../components/feedback';
import { blankVariable, draftOf, inputOf, keepingSecret, replacingSecret, type ScopeDraft, type VariableDraft, withSensitive } from './variable-draft';

/** Why a save was refused: the API's message, and each problem it named when it named several. */
interface SaveError {
  message: string;
  problems: string[];
}

function saveErrorOf(err: unknown): SaveError {
  const problems = err instanceof ApiError ? (err.details as { problems?: unknown } | undefined)?.problems : undefined;
  return { message: messageOf(err), problems: Array.isArray(problems) ? problems.filter((p): p is string => typeof p === 'string') : [] };
}

const chipsOf = (list: Named[]): ChipOption[] => list.map((x) => ({ value: x.id, label: x.name }));
const namedOf = (list: ChipOption[]): Named[] => list.map((c) => ({ id: c.value, name: c.label }));
type VariablesPath = '/api/v1/projects/{id}/variables' | '/api/v1/variable-sets/{id}/variables';

const textChips = (list: string[]): ChipOption[] => list.map((x) => ({ value: x, label: x }));

/**
 * The values of a project or a library set (`path` is its `/variables` route, `id` its id), edited in place and
 * saved as one list. A sensitive value, once saved, is only ever shown as set: it can be
 * replaced, never read back.
 */
export function VariablesEditor({ path, id, editable, stepNames = [], onSaved }: { path: VariablesPath; id: string; editable: boolean; stepNames?: string[]; onSaved?: () => void }) {
  const variables = useResource(path, { path: { id } });
  const environments = useResource('/api/v1/environments');
  const agents = useResource('/api/v1/agents', { query: { status: 'approved' } });
  const known = {
    environments: (environments.data ?? []).map((e) => ({ value: e.id, label: e.name })),
    agents: (agents.data?.items ?? []).map((a) => ({ value: a.id, label: a.name })),
    roles: textChips([...new Set((agents.data?.items ?? []).flatMap((a) => a.roles))].sort()),
    steps: textChips(stepNames),
  };
  return (
    <Loadable data={variables.data} error={variables.error}>
      {(list) => <VariablesForm key={`${path} ${id}`} path={path} id={id} initial={list} editable={editable} known={known} onSaved={onSaved} />}
    </Loadable>
  );
}

interface Known {
  environments: ChipOption[];
  agents: ChipOption[];
  roles: ChipOption[];
  steps: ChipOption[];
}

function VariablesForm({ path, id, initial, editable, known, onSaved }: { path: VariablesPath; id: string; initial: Variable[]; editable: boolean; known: Known; onSaved?: () => void }) {
  const [drafts, setDrafts] = useState<VariableDraft[]>(() => initial.map(draftOf));
  const [error, setError] = useState<SaveError | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  const change = (key: number, next: (d: VariableDraft) => VariableDraft) => {
    setSaved(null);
    setDrafts((list) => list.map((d) => (d.key === key ? next(d) : d)));
  };
  const move = (at: number, by: -1 | 1) =>
    setDrafts((list) => {
      const next = [...list];
      [next[at], next[at + by]] = [next[at + by], next[at]];
      return next;
    });
  const insert = (at: number, draft: VariableDraft) => setDrafts((list) => [...list.slice(0, at), draft, ...list.slice(at)]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSaved(null);
    setSaving(true);
    try {
      const list = await put(path, { params: { path: { id } }, body: drafts.map(inputOf) });
      // What the server answers replaces every draft: a secret just typed leaves every input.
      setDrafts(list.map(draftOf));
      setSaved(list.length === 1 ? 'Saved 1 value.' : `Saved ${list.length} values.`);
      onSaved?.();
    } catch (err) {
      setError(saveErrorOf(err));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form onSubmit={(e) => void save(e)} aria-label="Variables" autoComplete="off">
      {drafts.length === 0 && <Empty>No values yet{editable ? ': add one below' : ''}.</Empty>}
      <ol className="variables">
        {drafts.map((d, at) => (
          <li key={d.key}>
            <VariableFields
              draft={d}
              at={at}
              editable={editable}
              known={known}
              onChange={(next) => change(d.key, next)}
              actions={
                editable && (
                  <div className="form-actions">
                    <button
                      type="button"
                      className="button-secondary button-small"
                      onClick={() => insert(at + 1, { ...blankVariable(), name: d.name, description: d.description, sensitive: d.sensitive })}
                      aria-label={`Add another value of ${d.name || `value ${at + 1}`}`}
                    >
                      Another value of this name
                    </button>
                    <button type="button" className="button-secondary button-small" disabled={at === 0} onClick={() => move(at, -1)} aria-label={`Move value ${at + 1} up`}>
                      Move up
                    </button>
                    <button type="button" className="button-secondary button-small" disabled={at === drafts.length - 1} onClick={() => move(at, 1)} aria-label={`Move value ${at + 1} down`}>
                      Move down
                    </button>
                    <button type="button" className="button-secondary button-small" onClick={() => setDrafts((list) => list.filter((x) => x.key !== d.key))} aria-label={`Remove value ${at + 1}`}>
                      Remove
                    </button>
                  </div>
                )
              }
            />
          </li>
        ))}
      </ol>
      {error &&
        (error.problems.length > 1 ? (
          <div className="error-message" role="alert">
            Not saved:
            <ul className="problem-list">
              {error.problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          </div>
        ) : (
          <p className="error-message" role="alert">
            Not saved: {error.message}
          </p>
        ))}
      {saved && (
        <p className="notice" role="status">
          {saved}
        </p>
      )}
      {editable && (
        <div className="form-actions">
          <button type="button" className="button-secondary" onClick={() => setDrafts((list) => [...list, blankVariable()])}>
            Add a value
          </button>
          <button type="submit" disabled={saving}>
            Save variables
          </button>
        </div>
      )}
    </form>
  );
}

function VariableFields({
  draft: d,
  at,
  editable,
  known,
  onChange,
  actions,
}: {
  draft: VariableDraft;
  at: number;
  editable: boolean;
  known: Known;
  onChange: (next: (d: VariableDraft) => VariableDraft) => void;
  actions: ReactNode;
}) {
  const id = (field: string) => `variable-${d.key}-${field}`;
  const set = (patch: Partial<VariableDraft>) => onChange((x) => ({ ...x, ...patch }));
  const setScope = (patch: Partial<ScopeDraft>) => onChange((x) => ({ ...x, scope: { ...x.scope, ...patch } }));
  const valueLabel = d.prompted ? 'Default value (optional)' : 'Value';

  return (
    <fieldset aria-label={`Value ${at + 1}`} disabled={!editable}>
      <legend>
        {d.name.trim() || `Value ${at + 1}`}
        {d.sensitive && <span className="muted small"> (sensitive)</span>}
      </legend>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={id('name')}>Name</label>
          <input id={id('name')} value={d.name} onChange={(e) => set({ name: e.target.value })} required maxLength={200} placeholder="DbHost" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor={id('description')}>Description (optional)</label>
          <input id={id('description')} value={d.description} onChange={(e) => set({ description: e.target.value })} maxLength={2000} />
        </div>
      </div>
      <div className="field">
        {d.sensitive && d.keepsSaved ? (
          <>
            <span className="field-label">{valueLabel}</span>
            <span className="secret-set">
              <span data-testid="secret-set">•••• (set)</span>
              {editable && (
                <button type="button" className="button-secondary button-small" onClick={() => onChange(replacingSecret)} aria-label={`Replace the value of ${d.name}`}>
                  Replace
                </button>
              )}
            </span>
            <span className="hint">Sensitive: write-only, it is never shown again. Replace it to give a new one.</span>
          </>
        ) : d.sensitive ? (
          <>
            <label htmlFor={id('value')}>{d.savedHasValue ? `New ${valueLabel.toLowerCase()}` : valueLabel}</label>
            <span className="secret-set">
              <input id={id('value')} type="password" autoComplete="new-password" spellCheck={false} value={d.value} onChange={(e) => set({ value: e.target.value })} />
              {d.savedHasValue && editable && (
                <button type="button" className="button-secondary button-small" onClick={() => onChange(keepingSecret)}>
                  Keep the saved value
                </button>
              )}
            </span>
            <span className="hint">Sensitive: once saved it is never shown again, in the console or the API.</span>
          </>
        ) : (
          <>
            <label htmlFor={id('value')}>{valueLabel}</label>
            <textarea id={id('value')} rows={1} className="mono" spellCheck={false} value={d.value} onChange={(e) => set({ value: e.target.value })} />
            {d.savedSensitive && <span className="hint">It was sensitive: give its new value, the old one stays secret.</span>}
          </>
        )}
      </div>
      <div className="inline-checks">
        <label>
          <input type="checkbox" checked={d.sensitive} onChange={(e) => onChange((x) => withSensitive(x, e.target.checked))} /> Sensitive (write-only)
        </label>{' '}
        <label>
          <input type="checkbox" checked={d.prompted} onChange={(e) => set({ prompted: e.target.checked })} /> Ask for it at each deployment
        </label>
      </div>
      {d.prompted && (
        <div className="form-grid">
          <div className="field">
            <label htmlFor={id('prompt-label')}>Prompt label</label>
            <input id={id('prompt-label')} value={d.promptLabel} onChange={(e) => set({ promptLabel: e.target.value })} maxLength={200} placeholder={d.name || 'Change ticket'} />
          </div>
          <label className="field-inline">
            <input type="checkbox" checked={d.promptRequired} onChange={(e) => set({ promptRequired: e.target.checked })} /> Required: a deployment must give it
          </label>
        </div>
      )}
      <fieldset className="scope" aria-label={`Scope of value ${at + 1}`}>
        <legend>Scope: where it applies (everywhere when empty)</legend>
        <ChipPicker
          label="Environments"
          noun="environment"
          chosen={chipsOf(d.scope.environments)}
          options={known.environments}
          editable={editable}
          onChange={(next) => setScope({ environments: namedOf(next) })}
        />
        <ChipPicker
          label="Roles"
          noun="role"
          chosen={textChips(d.scope.roles)}
          options={known.roles}
          free
          editable={editable}
          onChange={(next) => setScope({ roles: next.map((c) => c.value) })}
        />
        <ChipPicker label="Agents" noun="agent" chosen={chipsOf(d.scope.agents)} options={known.agents} editable={editable} onChange={(next) => setScope({ agents: namedOf(next) })} />
        <ChipPicker
          label="Steps"
          noun="step"
          chosen={textChips(d.scope.steps)}
          options={known.steps}
          free
          editable={editable}
          onChange={(next) => setScope({ steps: next.map((c) => c.value) })}
        />
      </fieldset>
      {actions}
    </fieldset>
  );
}
