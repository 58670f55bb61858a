import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { messageOf, patch } from '../api/api-client';
import type { Project } from '../api/types';
import { useResource } from '../api/use-resource';
import { ErrorMessage, Loadable } from '../components/feedback';
import { PageHeader } from '../components/layout';
import { useSession } from '../session/session-context';
import { VariablesEditor } from './variables-editor';
import { VariablesPreviewPanel } from './variables-preview';

/** A project's variables: the library sets it includes, its own values, and what a step would see. */
export function ProjectVariablesPage() {
  const { id = '' } = useParams();
  const { can } = useSession();
  const project = useResource('/api/v1/projects/{id}', { path: { id } });
  const process = useResource('/api/v1/projects/{id}/process', { path: { id } });
  // Each save changes what the preview shows.
  const [revision, setRevision] = useState(0);
  const changed = () => setRevision((r) => r + 1);
  const stepNames = process.data?.steps.map((s) => s.name) ?? [];

  return (
    <Loadable data={project.data} error={project.error}>
      {(p) => (
        <>
          <p className="breadcrumb">
            <Link to="/projects">Projects</Link> / <Link to={`/projects/${p.id}`}>{p.name}</Link> /
          </p>
          <PageHeader title={`Variables of ${p.name}`} />
          <p className="lead">
            Steps use a value as <code>#{'{Name}'}</code>. Where a name has several values, the most specific scope wins (step, then agent, role, environment); on the same scope the
            project&apos;s value beats a library set&apos;s, and an earlier set beats a later one. Releases keep the values they were made with.
          </p>
          <section className="panel" aria-labelledby="included-sets-h">
            <h2 id="included-sets-h">Library variable sets</h2>
            <IncludedVariableSets key={p.variableSetIds.join()} project={p} editable={can('admin')} onSaved={changed} />
          </section>
          <section className="panel" aria-labelledby="project-values-h">
            <h2 id="project-values-h">Project values</h2>
            <VariablesEditor path="/api/v1/projects/{id}/variables" id={p.id} editable={can('admin')} stepNames={stepNames} onSaved={changed} />
          </section>
          <section className="panel" aria-labelledby="preview-h">
            <h2 id="preview-h">Preview</h2>
            <VariablesPreviewPanel projectId={p.id} stepNames={stepNames} revision={revision} />
          </section>
        </>
      )}
    </Loadable>
  );
}

/** The library sets a project includes, in order (an earlier one wins a tie between sets), saved as one list. */
function IncludedVariableSets({ project, editable, onSaved }: { project: Project; editable: boolean; onSaved: () => void }) {
  const sets = useResource('/api/v1/variable-sets');
  const [ids, setIds] = useState(project.variableSetIds);
  const [saved, setSaved] = useState(project.variableSetIds);
  const [pick, setPick] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const nameOf = (id: string) => sets.data?.find((s) => s.id === id)?.name ?? id;
  const others = (sets.data ?? []).filter((s) => !ids.includes(s.id));
  const dirty = ids.join() !== saved.join();

  const edit = (next: string[]) => {
    setNotice(null);
    setIds(next);
  };
  const move = (at: number, by: -1 | 1) => {
    const next = [...ids];
    [next[at], next[at + by]] = [next[at + by], next[at]];
    edit(next);
  };
  const save = async () => {
    setError(null);
    try {
      const updated = await patch('/api/v1/projects/{id}', { params: { path: { id: project.id } }, body: { variableSetIds: ids } });
      setIds(updated.variableSetIds);
      setSaved(updated.variableSetIds);
      setNotice('Saved the included sets.');
      onSaved();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <Loadable data={sets.data} error={sets.error}>
      {(all) => (
        <>
          {ids.length === 0 ? (
            <p className="muted">
              It includes no library set.{' '}
              {all.length === 0 && (
                <>
                  Make one on the <Link to="/variable-sets">Variable sets</Link> page to share values between projects.
                </>
              )}
            </p>
          ) : (
            <ol className="plain-list" aria-label="Included variable sets">
              {ids.map((id, at) => (
                <li key={id} className="included-set">
                  <span>
                    {at + 1}. <Link to={`/variable-sets/${id}`}>{nameOf(id)}</Link>
                  </span>
                  {editable && (
                    <span className="row-actions">
                      <button type="button" className="button-secondary button-small" disabled={at === 0} onClick={() => move(at, -1)} aria-label={`Move ${nameOf(id)} up`}>
                        ↑
                      </button>
                      <button type="button" className="button-secondary button-small" disabled={at === ids.length - 1} onClick={() => move(at, 1)} aria-label={`Move ${nameOf(id)} down`}>
                        ↓
                      </button>
                      <button type="button" className="button-secondary button-small" onClick={() => edit(ids.filter((x) => x !== id))} aria-label={`Stop including ${nameOf(id)}`}>
                        Remove
                      </button>
                    </span>
                  )}
                </li>
              ))}
            </ol>
          )}
          {editable && all.length > 0 && (
            <div className="filters">
              <div className="field field-inline">
                <label htmlFor="include-set">Variable set to include</label>
                <select id="include-set" value={pick} onChange={(e) => setPick(e.target.value)} disabled={others.length === 0}>
                  <option value="">{others.length === 0 ? 'all are included' : 'Choose…'}</option>
                  {others.map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.name}
                    </option>
                  ))}
                </select>
              </div>
              <button
                type="button"
                className="button-secondary"
                disabled={!pick}
                onClick={() => {
                  edit([...ids, pick]);
                  setPick('');
                }}
              >
                Include
              </button>
              <button type="button" disabled={!dirty} onClick={() => void save()}>
                Save included sets
              </button>
            </div>
          )}
          <ErrorMessage error={error} />
          {notice && (
            <p className="notice" role="status">
              {notice}
            </p>
          )}
        </>
      )}
    </Loadable>
  );
}
