import { useState } from 'react';
import { messageOf, post } from '../api/api-client';
import type { ServerNode } from '../api/types';
import { ErrorMessage } from './feedback';
import { StatusBadge } from './status-badge';

/** A node's state, and whether it drains. */
export function NodeState({ node }: { node: ServerNode }) {
  return (
    <>
      <StatusBadge status={node.state} />
      {node.draining && node.state === 'alive' && <StatusBadge status="draining" />}
    </>
  );
}

/** Drain (after a confirmation: its agents move to other nodes) or undrain a live node. */
export function DrainControl({ node, onChanged }: { node: ServerNode; onChanged: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (node.state !== 'alive') return null;
  const set = async (action: 'drain' | 'undrain') => {
    setError(null);
    try {
      await post(`/api/v1/nodes/{id}/${action}`, { params: { path: { id: node.id } } });
      setConfirming(false);
      onChanged();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <>
      <ErrorMessage error={error} />
      {node.draining ? (
        <button type="button" className="button-secondary button-small" onClick={() => void set('undrain')} aria-label={`Undrain node ${node.address}`}>
          Undrain
        </button>
      ) : confirming ? (
        <span className="confirm">
          Drain {node.address}? Its agents move to other nodes.{' '}
          <button type="button" className="button-danger button-small" onClick={() => void set('drain')}>
            Drain
          </button>{' '}
          <button type="button" className="button-secondary button-small" onClick={() => setConfirming(false)}>
            Keep
          </button>
        </span>
      ) : (
        <button type="button" className="button-secondary button-small" onClick={() => setConfirming(true)} aria-label={`Drain node ${node.address}`}>
          Drain…
        </button>
      )}
    </>
  );
}
