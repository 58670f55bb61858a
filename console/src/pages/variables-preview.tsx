import { useEffect, useRef, useState } from 'react';
import { useResource } from '../api/use-resource';
import { Empty, Loadable } from '../components/feedback';

/**
 * What a step of the project would see in an environment, on an agent: each value and where it
 * came from, as the server resolves it (sensitive ones as `***`). Read again when `revision` changes.
 */
export function VariablesPreviewPanel({ projectId, stepNames, revision }: { projectId: string; stepNames: string[]; revision: number }) {
  const environments = useResource('/api/v1/environments');
  const agents = useResource('/api/v1/agents', { query: { status: 'approved' } });
  const [chosenEnvironment, setEnvironment] = useState<string | null>(null);
  const [agent, setAgent] = useState('');
  const [step, setStep] = useState('');
  // The first environment until one is chosen.
  const environment = chosenEnvironment ?? environments.data?.[0]?.name ?? '';
  const inEnvironment = (agents.data?.items ?? []).filter((a) => !environment || a.environments.includes(environment));
  const preview = useResource(environments.data ? '/api/v1/projects/{id}/variables/preview' : null, {
    path: { id: projectId },
    query: { environment: environment || undefined, agent: agent || undefined, step: step || undefined },
  });

  const { reload } = preview;
  const seen = useRef(revision);
  useEffect(() => {
    if (seen.current === revision) return;
    seen.current = revision;
    reload();
  }, [revision, reload]);

  return (
    <>
      <div className="filters">
        <div className="field field-inline">
          <label htmlFor="preview-environment">Environment</label>
          <select
            id="preview-environment"
            value={environment}
            onChange={(e) => {
              setEnvironment(e.target.value);
              setAgent('');
            }}
          >
            <option value="">none</option>
            {(environments.data ?? []).map((env) => (
              <option key={env.id} value={env.name}>
                {env.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-inline">
          <label htmlFor="preview-agent">Agent</label>
          <select id="preview-agent" value={agent} onChange={(e) => setAgent(e.target.value)}>
            <option value="">none</option>
            {inEnvironment.map((a) => (
              <option key={a.id} value={a.name}>
                {a.name}
                {a.roles.length ? ` (${a.roles.join(', ')})` : ''}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-inline">
          <label htmlFor="preview-step">Step</label>
          <select id="preview-step" value={step} onChange={(e) => setStep(e.target.value)}>
            <option value="">none</option>
            {stepNames.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
      </div>
      <p className="hint">Values scoped to agents, roles or steps apply only when one is chosen. Corral&apos;s system variables are given when a deployment runs.</p>
      <Loadable data={preview.data} error={preview.error}>
        {(p) =>
          p.variables.length === 0 ? (
            <Empty>No value applies here.</Empty>
          ) : (
            <div className="table-wrap">
              <table aria-label="What a step sees">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Value</th>
                    <th scope="col">From</th>
                  </tr>
                </thead>
                <tbody>
                  {p.variables.map((v) => (
                    <tr key={v.name}>
                      <td className="mono">{v.name}</td>
                      <td className="mono break">
                        {v.value}
                        {v.sensitive && <span className="muted small"> (sensitive)</span>}
                      </td>
                      <td>{v.from}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loadable>
    </>
  );
}
