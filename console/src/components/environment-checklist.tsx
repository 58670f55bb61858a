import { Link } from 'react-router';
import { useResource } from '../api/use-resource';
import { Loadable } from './feedback';

/** The organisation's environments as checkboxes, by name; a link to make one when there are none. */
export function EnvironmentChecklist({ selected, onChange, legend = 'Environments' }: { selected: ReadonlySet<string>; onChange: (next: Set<string>) => void; legend?: string }) {
  const known = useResource('/api/v1/environments');
  return (
    <fieldset className="field">
      <legend>{legend}</legend>
      <Loadable data={known.data} error={known.error}>
        {(list) =>
          list.length === 0 ? (
            <span className="hint">
              No environments yet: <Link to="/environments">create one</Link> to put agents in it.
            </span>
          ) : (
            <ul className="checklist">
              {list.map((env) => (
                <li key={env.id}>
                  <label>
                    <input
                      type="checkbox"
                      checked={selected.has(env.name)}
                      onChange={(e) => {
                        const next = new Set(selected);
                        if (e.target.checked) next.add(env.name);
                        else next.delete(env.name);
                        onChange(next);
                      }}
                    />{' '}
                    {env.name}
                  </label>
                </li>
              ))}
            </ul>
          )
        }
      </Loadable>
    </fieldset>
  );
}
