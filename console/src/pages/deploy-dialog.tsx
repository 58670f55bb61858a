import { useEffect, useState } from 'react';
import { useNavigate } from 'react-router';
import { api, messageOf } from '../api/api-client';
import type { DeploymentPreview, DeploymentSummary, Environment, Release } from '../api/types';
import { Dialog } from '../components/dialog';
import { ErrorMessage } from '../components/feedback';
import { StatusBadge } from '../components/status-badge';

/**
 * Deploys a release: the environment, what each step would run on there (asked of the server's
 * own planner), the steps to skip and agents to leave out, guided failure, and why the lifecycle
 * or a step would refuse it. Opens on `environment`.
 */
export function DeployDialog({ release, environments, environment, onClose }: { release: Release; environments: Environment[]; environment: string; onClose: () => void }) {
  const navigate = useNavigate();
  const [target, setTarget] = useState(environment);
  const [skipSteps, setSkipSteps] = useState<string[]>([]);
  const [excludeAgents, setExcludeAgents] = useState<string[]>([]);
  const [guided, setGuided] = useState<boolean | null>(null);
  const [preview, setPreview] = useState<DeploymentPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const body = { environment: target, skipSteps, excludeAgents, ...(guided === null ? {} : { guidedFailure: guided }) };

  useEffect(() => {
    let current = true;
    api<DeploymentPreview>(`/api/v1/releases/${release.id}/deployments/preview`, { method: 'POST', body: { environment: target, skipSteps, excludeAgents } })
      .then((p) => {
        if (!current) return;
        setPreview(p);
        setError(null);
      })
      .catch((err: unknown) => {
        if (!current) return;
        setPreview(null);
        setError(messageOf(err));
      });
    return () => {
      current = false;
    };
  }, [release.id, target, skipSteps, excludeAgents]);

  const toggle = (list: string[], value: string, on: boolean) => (on ? [...list, value] : list.filter((x) => x !== value));
  const deploy = async () => {
    setError(null);
    try {
      const d = await api<DeploymentSummary>(`/api/v1/releases/${release.id}/deployments`, { method: 'POST', body });
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
