import { type KeyboardEvent, useId, useState } from 'react';

export interface ChipOption {
  value: string;
  label: string;
}

/**
 * What is chosen, as chips that each have a remove button, and a way to add one more: picked
 * from `options`, or also typed when `free` (the options are then suggestions).
 */
export function ChipPicker({
  label,
  noun,
  chosen,
  options,
  free = false,
  editable,
  onChange,
}: {
  /** The group's name, e.g. "Environments". */
  label: string;
  /** One entry, e.g. "environment": it names the add and remove buttons. */
  noun: string;
  chosen: ChipOption[];
  options: ChipOption[];
  free?: boolean;
  editable: boolean;
  onChange: (next: ChipOption[]) => void;
}) {
  const labelId = useId();
  const listId = useId();
  const [entry, setEntry] = useState('');
  const remaining = options.filter((o) => !chosen.some((c) => c.value === o.value));
  const text = entry.trim();
  // A typed entry that names an option is that option (an agent typed by name is kept by id).
  const candidate: ChipOption | null = !text ? null : (options.find((o) => o.value === text || o.label === text) ?? (free ? { value: text, label: text } : null));
  const add = () => {
    if (!candidate) return;
    if (!chosen.some((c) => c.value === candidate.value)) onChange([...chosen, candidate]);
    setEntry('');
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    // Enter adds the entry instead of submitting the form around it.
    if (e.key === 'Enter') {
      e.preventDefault();
      add();
    }
  };

  return (
    <div className="chip-picker" role="group" aria-labelledby={labelId}>
      <span id={labelId} className="chip-picker-label">
        {label}
      </span>
      {chosen.length === 0 ? (
        <span className="muted small">any</span>
      ) : (
        <ul className="chips" aria-label={`${label} chosen`}>
          {chosen.map((c) => (
            <li key={c.value} className="chip">
              {c.label}
              {editable && (
                <button type="button" className="chip-remove" aria-label={`Remove ${noun} ${c.label}`} onClick={() => onChange(chosen.filter((x) => x.value !== c.value))}>
                  ×
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {editable && (
        <span className="chip-add">
          {free ? (
            <>
              <input list={listId} aria-label={`${noun} to add`} value={entry} onChange={(e) => setEntry(e.target.value)} onKeyDown={onKeyDown} maxLength={200} />
              <datalist id={listId}>
                {remaining.map((o) => (
                  <option key={o.value} value={o.label} />
                ))}
              </datalist>
            </>
          ) : (
            <select aria-label={`${noun} to add`} value={entry} onChange={(e) => setEntry(e.target.value)} disabled={remaining.length === 0}>
              <option value="">{remaining.length === 0 ? 'none left' : 'Choose…'}</option>
              {remaining.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          )}
          <button type="button" className="button-secondary button-small" disabled={!candidate} onClick={add}>
            Add {noun}
          </button>
        </span>
      )}
    </div>
  );
}
