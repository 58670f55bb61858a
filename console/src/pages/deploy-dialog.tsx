import { useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate } from 'react-router';
import { messageOf, post } from '../api/api-client';
import type { DeploymentPreview, Environment, Release } from '../api/types';
import { useResource } from '../api/use-resource';
import { Dialog } from '../components/dialog';
import { ErrorMessage } from '../components/feedback';
import { StatusBadge } from '../components/status-badge';
import { answersOf, type Prompt, promptKey, previewAnswersOf, promptsOf } from './variable-draft';

// Typing an answer asks for a new preview once the typing pauses, not at each key.
const ANSWER_PAUSE_MS = 300;

/**
 * Deploys a release: the environment, the values it asks for (its prompted variables), what each
 * step would run on there (asked of the server's own planner), the steps to skip and agents to
 * leave out, guided failure, and why the lifecycle, a step or a variable would refuse it. Opens
 * on `environment`.
 */
export function DeployDialog({ release, environments, environment, onClose }: { release: Release; environments: Environment[]; environment: string; onClose: () => void }) {
  const navigate = useNavigate();
  const [target, setTarget] = useState(environment);
  const [skipSteps, setSkipSteps] = useState<string[]>([]);
  const [excludeAgents, setExcludeAgents] = useState<string[]>([]);
  const [guided, setGuided] = useState<boolean | null>(null);
  const [preview, setPreview] = useState<DeploymentPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const detail = useResource('/api/v1/releases/{id}', { path: { id: release.id } });
  const prompts = useMemo(() => promptsOf(detail.data?.variables ?? []), [detail.data]);
  const [typed, setTyped] = useState<Record<string, string>>({});
  const variables = answersOf(prompts, typed);
  const body = { environment: target, skipSteps, excludeAgents, ...(Object.keys(variables).length ? { variables } : {}), ...(guided === null ? {} : { guidedFailure: guided }) };
  // The preview waits for the release's prompts, so that it is asked with their answers.
  const promptsKnown = detail.data !== undefined || detail.error !== undefined;
  const previewVariables = promptsKnown ? JSON.stringify(previewAnswersOf(prompts, typed)) : null;
  const lastPreviewVariables = useRef<string | null>(null);

  useEffect(() => {
    if (previewVariables === null) return;
    let current = true;
    const typing = lastPreviewVariables.current !== null && lastPreviewVariables.current !== previewVariables;
    lastPreviewVariables.current = previewVariables;
    const timer = setTimeout(
      () =>
        post('/api/v1/releases/{id}/deployments/preview', {
          params: { path: { id: release.id } },
          body: { environment: target, skipSteps, excludeAgents, variables: JSON.parse(previewVariables) as Record<string, string> },
        })
          .then((p) => {
            if (!current) return;
            setPreview(p);
            setError(null);
          })
          .catch((err: unknown) => {
            if (!current) return;
            setPreview(null);
            setError(messageOf(err));
          }),
      typing ? ANSWER_PAUSE_MS : 0,
    );
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [release.id, target, skipSteps, excludeAgents, previewVariables]);

  const toggle = (list: string[], value: string, on: boolean) => (on ? [...list, value] : list.filter((x) => x !== value));
  const deploy = async () => {
    setError(null);
    try {
      const d = await post('/api/v1/releases/{id}/deployments', { params: { path: { id: release.id } }, body });
      void navigate(`/deployments/${d.id}`);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <Dialog title={`Deploy ${release.version}`} open onClose={onClose}>
      <div className="field">
        <label htmlFor="deploy-environment">Environment</label>
        <select
          id="deploy-environment"
          value={target}
          onChange={(e) => {
            setTarget(e.target.value);
            setExcludeAgents([]);
          }}
        >
          {environments.map((env) => (
            <option key={env.id} value={env.name}>
              {env.name}
            </option>
          ))}
        </select>
      </div>
      {detail.error && <ErrorMessage error={`Could not read the values this release asks for: ${detail.error.message}`} />}
      {prompts.length > 0 && (
        <fieldset className="prompts">
          <legend>Values this release asks for</legend>
          {prompts.map((p) => (
            <PromptField key={promptKey(p.name)} prompt={p} value={typed[promptKey(p.name)] ?? p.initial} onChange={(value) => setTyped((t) => ({ ...t, [promptKey(p.name)]: value }))} />
          ))}
        </fieldset>
      )}
      {preview && (
        <>
          {preview.refusals.length > 0 && (
            <ul className="warning-text" aria-label="Why it cannot be deployed">
              {preview.refusals.map((r) => (
                <li key={r.message}>{r.message}</li>
              ))}
            </ul>
          )}
          <label>
            <input type="checkbox" checked={guided ?? preview.environment.guidedFailure} onChange={(e) => setGuided(e.target.checked)} /> Guided failure: pause on a failure instead of failing
          </label>
          <ol className="steps" aria-label="What it would run">
            {preview.steps.map((s) => (
              <li key={s.name} aria-label={`Would run ${s.name}`}>
                <label>
                  <input type="checkbox" aria-label={`Skip ${s.name}`} checked={skipSteps.includes(s.name)} onChange={(e) => setSkipSteps(toggle(skipSteps, s.name, e.target.checked))} /> Skip
                </label>{' '}
                <strong>{s.name}</strong> {s.state === 'skipped' && <StatusBadge status="skipped" />}
                {s.reason && <span className="muted"> {s.reason}</span>}
                {s.kind === 'manual' && s.state !== 'skipped' && <span className="muted"> waits for a person</span>}
                {s.targets.length > 0 && (
                  <ul className="inline-list">
                    {s.targets.map((t) => (
                      <li key={t.agent.id}>
                        <label>
                          <input
                            type="checkbox"
                            aria-label={`Run ${s.name} on ${t.agent.name}`}
                            checked={!excludeAgents.includes(t.agent.name)}
                            onChange={(e) => setExcludeAgents(toggle(excludeAgents, t.agent.name, !e.target.checked))}
                          />{' '}
                          {t.agent.name}
                        </label>
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ol>
          <p className="muted small">Leaving an agent out leaves it out of every step of this deployment.</p>
        </>
      )}
      <ErrorMessage error={error} />
      <div className="form-actions">
        <button type="button" className="button-secondary" onClick={onClose}>
          Cancel
        </button>
        <button type="button" disabled={!preview || preview.refusals.length > 0} onClick={() => void deploy()}>
          Deploy {release.version} to {target}
        </button>
      </div>
    </Dialog>
  );
}

/** One prompted variable: a password field when it is sensitive, so what is typed is not on screen. */
function PromptField({ prompt: p, value, onChange }: { prompt: Prompt; value: string; onChange: (value: string) => void }) {
  const id = `prompt-${promptKey(p.name).replace(/[^a-z0-9-]/g, '-')}`;
  const hint = [
    `#{${p.name}}`,
    p.sensitive ? 'sensitive: sealed, never shown again' : null,
    p.hasDefault && !p.required && value === '' ? 'left empty, the release’s own value is used' : null,
  ].filter(Boolean);
  return (
    <div className="field">
      <label htmlFor={id}>
        {p.label}
        {p.required && <span className="muted"> (required)</span>}
      </label>
      <input
        id={id}
        type={p.sensitive ? 'password' : 'text'}
        autoComplete={p.sensitive ? 'new-password' : 'off'}
        spellCheck={false}
        aria-required={p.required || undefined}
        aria-describedby={`${id}-hint`}
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
      <span id={`${id}-hint`} className="hint">
        {hint.join(' · ')}
      </span>
    </div>
  );
}
