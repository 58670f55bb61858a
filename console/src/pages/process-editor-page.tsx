import { type FormEvent, useState } from 'react';
import { Link, useParams } from 'react-router';
import { messageOf, put } from '../api/api-client';
import { type DeploymentProcess, type Environment, type ProcessStep, ROLES, type Role, SCRIPT_SYNTAXES, type ScriptSyntax, type StepCondition } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { useSession } from '../session/session-context';

/** A step being edited: every field of both kinds, as the form holds them. */
interface StepDraft {
  key: number;
  kind: 'script' | 'manual';
  name: string;
  environments: string[];
  condition: StepCondition;
  syntax: ScriptSyntax;
  body: string;
  roles: string;
  startWithPrevious: boolean;
  required: boolean;
  maxParallelism: string;
  maxErrors: string;
  timeoutSeconds: string;
  instructions: string;
  responsibleRole: Role;
}

const CONDITIONS: { value: StepCondition; label: string }[] = [
  { value: 'success', label: 'when everything before it succeeded' },
  { value: 'failure', label: 'only when something before it failed' },
  { value: 'always', label: 'always, even after a failure' },
];

let nextKey = 0;

function blank(kind: StepDraft['kind']): StepDraft {
  return {
    key: nextKey++,
    kind,
    name: '',
    environments: [],
    condition: 'success',
    syntax: 'bash',
    body: '',
    roles: '',
    startWithPrevious: false,
    required: false,
    maxParallelism: '',
    maxErrors: '',
    timeoutSeconds: '',
    instructions: '',
    responsibleRole: 'admin',
  };
}

function draftOf(step: ProcessStep): StepDraft {
  const draft = { ...blank(step.kind), name: step.name, environments: step.environments.map((e) => e.id), condition: step.condition };
  if (step.kind === 'manual') return { ...draft, instructions: step.instructions, responsibleRole: step.responsibleRole };
  return {
    ...draft,
    syntax: step.script.syntax,
    body: step.script.body,
    roles: step.targetRoles.join(', '),
    startWithPrevious: step.startWithPrevious,
    required: step.required,
    maxParallelism: step.maxParallelism === null ? '' : String(step.maxParallelism),
    maxErrors: step.maxErrors === null ? '' : String(step.maxErrors),
    timeoutSeconds: String(step.timeoutSeconds),
  };
}

const numberOrLeftOut = (field: string, value: string) => (value.trim() === '' ? {} : { [field]: Number(value) });

/** The step as PUT /api/v1/projects/:id/process takes it; the server checks every field. */
function inputOf(d: StepDraft) {
  const common = { name: d.name.trim(), condition: d.condition, ...(d.environments.length ? { environments: d.environments } : {}) };
  if (d.kind === 'manual') return { ...common, kind: d.kind, instructions: d.instructions, responsibleRole: d.responsibleRole };
  return {
    ...common,
    kind: d.kind,
    script: { syntax: d.syntax, body: d.body },
    targetRoles: d.roles
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
    startWithPrevious: d.startWithPrevious,
    required: d.required,
    ...numberOrLeftOut('maxParallelism', d.maxParallelism),
    ...numberOrLeftOut('maxErrors', d.maxErrors),
    ...numberOrLeftOut('timeoutSeconds', d.timeoutSeconds),
  };
}

/** The project's deployment process: its steps in order, each edited in place, saved as a new version. */
export function ProcessEditorPage() {
  const { id = '' } = useParams();
  const project = useResource('/api/v1/projects/{id}', { path: { id } });
  const process = useResource('/api/v1/projects/{id}/process', { path: { id } });
  const environments = useResource('/api/v1/environments');
  return (
    <Loadable
      data={project.data && process.data && environments.data ? { p: project.data, process: process.data, envs: environments.data } : undefined}
      error={project.error ?? process.error ?? environments.error}
    >
      {({ p, process: current, envs }) => (
        <>
          <p className="breadcrumb">
            <Link to="/projects">Projects</Link> / <Link to={`/projects/${p.id}`}>{p.name}</Link> /
          </p>
          <PageHeader title={`Process of ${p.name}`} />
          <ProcessForm key={current.version} projectId={p.id} process={current} environments={envs} onSaved={process.reload} />
        </>
      )}
    </Loadable>
  );
}

function ProcessForm({ projectId, process, environments, onSaved }: { projectId: string; process: DeploymentProcess; environments: Environment[]; onSaved: () => void }) {
  const { can } = useSession();
  const editable = can('admin');
  const [steps, setSteps] = useState<StepDraft[]>(() => process.steps.map(draftOf));
  const [error, setError] = useState<string | null>(null);

  const change = (at: number, patch: Partial<StepDraft>) => setSteps((list) => list.map((s, i) => (i === at ? { ...s, ...patch } : s)));
  const move = (at: number, by: -1 | 1) =>
    setSteps((list) => {
      const next = [...list];
      [next[at], next[at + by]] = [next[at + by], next[at]];
      return next;
    });

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await put('/api/v1/projects/{id}/process', { params: { path: { id: projectId } }, body: { steps: steps.map(inputOf) } });
      onSaved();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <form onSubmit={(e) => void save(e)} aria-label="Deployment process">
      <p className="lead" role="status">
        Version {process.version}
        {process.createdBy && `, saved by ${process.createdBy}`}. Steps run in order; releases keep the process they were created from.
      </p>
      {steps.length === 0 && <Empty>No steps yet: add one below.</Empty>}
      <ol className="steps">
        {steps.map((s, at) => (
          <li key={s.key}>
            <fieldset aria-label={`Step ${at + 1}`} disabled={!editable}>
              <legend>
                Step {at + 1}: {s.kind === 'script' ? 'run a script' : 'manual intervention'}
              </legend>
              <div className="form-grid">
                <div className="field">
                  <label htmlFor={`step-${s.key}-name`}>Step name</label>
                  <input id={`step-${s.key}-name`} value={s.name} onChange={(e) => change(at, { name: e.target.value })} required maxLength={100} />
                </div>
                <div className="field">
                  <label htmlFor={`step-${s.key}-condition`}>Runs</label>
                  <select id={`step-${s.key}-condition`} value={s.condition} onChange={(e) => change(at, { condition: e.target.value as StepCondition })}>
                    {CONDITIONS.map((c) => (
                      <option key={c.value} value={c.value}>
                        {c.label}
                      </option>
                    ))}
                  </select>
                </div>
              </div>
              {s.kind === 'script' ? (
                <>
                  <div className="form-grid">
                    <div className="field">
                      <label htmlFor={`step-${s.key}-roles`}>Target roles (comma-separated)</label>
                      <input id={`step-${s.key}-roles`} value={s.roles} onChange={(e) => change(at, { roles: e.target.value })} placeholder="web" required />
                    </div>
                    <div className="field">
                      <label htmlFor={`step-${s.key}-syntax`}>Syntax</label>
                      <select id={`step-${s.key}-syntax`} value={s.syntax} onChange={(e) => change(at, { syntax: e.target.value as ScriptSyntax })}>
                        {SCRIPT_SYNTAXES.map((x) => (
                          <option key={x}>{x}</option>
                        ))}
                      </select>
                    </div>
                  </div>
                  <div className="field">
                    <label htmlFor={`step-${s.key}-body`}>Script</label>
                    <textarea id={`step-${s.key}-body`} rows={6} className="mono" spellCheck={false} value={s.body} onChange={(e) => change(at, { body: e.target.value })} required />
                  </div>
                  <div className="form-grid">
                    <div className="field">
                      <label htmlFor={`step-${s.key}-parallel`}>At most this many agents at once (all when empty)</label>
                      <input id={`step-${s.key}-parallel`} type="number" min={1} value={s.maxParallelism} onChange={(e) => change(at, { maxParallelism: e.target.value })} />
                    </div>
                    <div className="field">
                      <label htmlFor={`step-${s.key}-errors`}>Failed agents tolerated (none when empty)</label>
                      <input id={`step-${s.key}-errors`} type="number" min={0} value={s.maxErrors} onChange={(e) => change(at, { maxErrors: e.target.value })} />
                    </div>
                    <div className="field">
                      <label htmlFor={`step-${s.key}-timeout`}>Timeout in seconds (an hour when empty)</label>
                      <input id={`step-${s.key}-timeout`} type="number" min={1} value={s.timeoutSeconds} onChange={(e) => change(at, { timeoutSeconds: e.target.value })} />
                    </div>
                  </div>
                  <label>
                    <input type="checkbox" checked={s.startWithPrevious} disabled={at === 0} onChange={(e) => change(at, { startWithPrevious: e.target.checked })} /> Start with the previous step
                  </label>{' '}
                  <label>
                    <input type="checkbox" checked={s.required} onChange={(e) => change(at, { required: e.target.checked })} /> Required: refuse a deployment where no agent can run it
                  </label>
                </>
              ) : (
                <div className="form-grid">
                  <div className="field">
                    <label htmlFor={`step-${s.key}-instructions`}>Instructions</label>
                    <textarea id={`step-${s.key}-instructions`} rows={3} value={s.instructions} onChange={(e) => change(at, { instructions: e.target.value })} required />
                  </div>
                  <div className="field">
                    <label htmlFor={`step-${s.key}-responsible`}>Who may answer (this role or higher)</label>
                    <select id={`step-${s.key}-responsible`} value={s.responsibleRole} onChange={(e) => change(at, { responsibleRole: e.target.value as Role })}>
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </div>
                </div>
              )}
              <fieldset className="inline-checks" aria-label={`Environments of step ${at + 1}`}>
                <legend>Only in these environments (every one when none is ticked)</legend>
                {environments.map((env) => (
                  <label key={env.id}>
                    <input
                      type="checkbox"
                      checked={s.environments.includes(env.id)}
                      onChange={(e) => change(at, { environments: e.target.checked ? [...s.environments, env.id] : s.environments.filter((x) => x !== env.id) })}
                    />{' '}
                    {env.name}
                  </label>
                ))}
              </fieldset>
              {editable && (
                <div className="form-actions">
                  <button type="button" className="button-secondary button-small" disabled={at === 0} onClick={() => move(at, -1)} aria-label={`Move step ${at + 1} up`}>
                    Move up
                  </button>
                  <button type="button" className="button-secondary button-small" disabled={at === steps.length - 1} onClick={() => move(at, 1)} aria-label={`Move step ${at + 1} down`}>
                    Move down
                  </button>
                  <button type="button" className="button-secondary button-small" onClick={() => setSteps((list) => list.filter((_, i) => i !== at))} aria-label={`Remove step ${at + 1}`}>
                    Remove
                  </button>
                </div>
              )}
            </fieldset>
          </li>
        ))}
      </ol>
      <ErrorMessage error={error} />
      {editable && (
        <div className="form-actions">
          <button type="button" className="button-secondary" onClick={() => setSteps((list) => [...list, blank('script')])}>
            Add a script step
          </button>
          <button type="button" className="button-secondary" onClick={() => setSteps((list) => [...list, blank('manual')])}>
            Add a manual step
          </button>
          <button type="submit">Save process</button>
        </div>
      )}
    </form>
  );
}
