import { type FormEvent, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { messageOf, post } from '../api/api-client';
import { refusalsOf } from '../api/target-refusals';
import { SCRIPT_SYNTAXES, type ScriptSyntax } from '../api/types';
import { useResource } from '../api/use-resource';
import { Empty, ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { StatusBadge } from '../components/status-badge';

export function RunScriptPage() {
  const [params] = useSearchParams();
  const agents = useResource('/api/v1/agents', { query: { status: 'approved' } }, { pollMs: 10_000 });
  const navigate = useNavigate();
  const [selected, setSelected] = useState<Set<string>>(() => new Set(params.getAll('agentId')));
  const [error, setError] = useState<string | null>(null);
  const [reasons, setReasons] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const toggle = (id: string, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '').trim();
    if (!selected.size) return setError('Pick at least one agent to run the script on.');
    setBusy(true);
    setError(null);
    setReasons([]);
    try {
      const task = await post('/api/v1/tasks', {
        body: {
          ...(text('name') ? { name: text('name') } : {}),
          targets: { agentIds: [...selected] },
          script: { syntax: text('syntax') as ScriptSyntax, body: String(form.get('body') ?? '') },
          ...(text('timeoutSeconds') ? { timeoutSeconds: Number(text('timeoutSeconds')) } : {}),
          ...(text('concurrencyKey') ? { concurrencyKey: text('concurrencyKey') } : {}),
        },
      });
      navigate(`/tasks/${task.id}`);
    } catch (err) {
      setError(messageOf(err));
      setReasons(refusalsOf(err).map((r) => r.reason));
      setBusy(false);
    }
  };

  return (
    <>
      <PageHeader title="Run a script" />
      <form className="run-form" onSubmit={(e) => void submit(e)} aria-label="Run a script">
        <fieldset className="panel">
          <legend>Agents</legend>
          <Loadable data={agents.data} error={agents.error}>
            {(list) =>
              list.items.length === 0 ? (
                <Empty>No approved agent yet: approve one under Agents first.</Empty>
              ) : (
                <ul className="checklist">
                  {list.items.map((a) => (
                    <li key={a.id}>
                      <label>
                        <input type="checkbox" name="agent" value={a.id} checked={selected.has(a.id)} onChange={(e) => toggle(a.id, e.target.checked)} />
                        <span className="agent-choice">{a.name}</span> <span className="muted">{a.hostname}</span> <StatusBadge status={a.connection.state} />
                        {a.policy && !a.policy.allowScripts && <span className="warning-text"> its local policy forbids scripts</span>}
                      </label>
                    </li>
                  ))}
                </ul>
              )
            }
          </Loadable>
        </fieldset>
        <div className="panel">
          <div className="form-grid">
            <div className="field">
              <label htmlFor="run-name">Name (optional)</label>
              <input id="run-name" name="name" maxLength={200} placeholder="check disk space" />
            </div>
            <div className="field">
              <label htmlFor="run-syntax">Shell</label>
              <select id="run-syntax" name="syntax" defaultValue="bash">
                {SCRIPT_SYNTAXES.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="run-timeout">Timeout (seconds)</label>
              <input id="run-timeout" name="timeoutSeconds" type="number" min={1} max={604800} defaultValue={3600} />
            </div>
          </div>
          <div className="field">
            <label htmlFor="run-body">Script</label>
            <textarea id="run-body" name="body" rows={10} required spellCheck={false} className="mono" defaultValue={'uptime\ndf -h /\n'} />
          </div>
          <details className="advanced">
            <summary>Advanced</summary>
            <div className="field">
              <label htmlFor="run-concurrency">Concurrency key</label>
              <input id="run-concurrency" name="concurrencyKey" maxLength={200} placeholder="deploy/production" />
              <span className="hint">Only one task per key runs at a time; later ones wait for it.</span>
            </div>
          </details>
          <ErrorMessage error={error} />
          {reasons.length > 1 && (
            <ul className="error-list">
              {reasons.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          )}
          <div className="form-actions">
            <button type="submit" disabled={busy}>
              {busy ? 'Starting…' : `Run on ${selected.size} agent${selected.size === 1 ? '' : 's'}`}
            </button>
          </div>
        </div>
      </form>
    </>
  );
}
