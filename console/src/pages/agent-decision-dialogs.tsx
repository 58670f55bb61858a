import { type FormEvent, useState } from 'react';
import { messageOf, patch, post } from '../api/api-client';
import type { Agent } from '../api/types';
import { Dialog } from '../components/dialog';
import { EnvironmentChecklist } from '../components/environment-checklist';
import { ErrorMessage } from '../components/feedback';

/** "web, prod-eu" → ["web", "prod-eu"] */
export function parseLabels(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

/**
 * Approving binds trust to the agent's key: the admin types the verification code the agent
 * printed on its own server (or confirms it matches), and may set environments and roles.
 */
export function ApproveAgentDialog({ agent, onClose, onDone }: { agent: Agent; onClose: () => void; onDone: (agent: Agent) => void }) {
  const [code, setCode] = useState('');
  const [environments, setEnvironments] = useState(new Set(agent.environments));
  const [roles, setRoles] = useState(agent.roles.join(', '));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const approved = await post('/api/v1/agents/{id}/approve', {
        params: { path: { id: agent.id } },
        body: { verificationCode: code.trim(), environments: [...environments], roles: parseLabels(roles) },
      });
      onDone(approved);
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Approve agent “${agent.name}”`} open onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} aria-label={`Approve agent ${agent.name}`}>
        <p>
          On <strong>{agent.hostname}</strong>, <code>corral-agent enroll</code> printed a verification code. Type it here: approval is refused when it does not match the key this agent enrolled
          with.
        </p>
        <dl className="facts facts-compact">
          <dt>Fingerprint</dt>
          <dd>
            <code className="break">{agent.fingerprint}</code>
          </dd>
        </dl>
        <div className="field">
          <label htmlFor="approve-code">Verification code the agent printed</label>
          <input
            id="approve-code"
            name="verificationCode"
            value={code}
            onChange={(e) => {
              setCode(e.target.value);
              setError(null);
            }}
            placeholder="XXXX-XXXX"
            autoComplete="off"
            spellCheck={false}
            required
            autoFocus
            className="input-code"
          />
          <span className="hint">
            The console shows <code>{agent.verificationCode}</code>.{' '}
            <button
              type="button"
              className="button-link"
              onClick={() => {
                setCode(agent.verificationCode);
                setError(null);
              }}
            >
              It matches what the agent printed
            </button>
          </span>
        </div>
        <EnvironmentChecklist selected={environments} onChange={setEnvironments} />
        <div className="field">
          <label htmlFor="approve-roles">Roles</label>
          <input id="approve-roles" value={roles} onChange={(e) => setRoles(e.target.value)} placeholder="web, db" />
        </div>
        <ErrorMessage error={error} />
        <div className="dialog-actions">
          <button type="button" className="button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" disabled={busy || !code.trim()}>
            {busy ? 'Approving…' : 'Approve'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Moves an approved agent between environments and roles: deployments made after it target it there. */
export function AgentLabelsDialog({ agent, onClose, onDone }: { agent: Agent; onClose: () => void; onDone: (agent: Agent) => void }) {
  const [environments, setEnvironments] = useState(new Set(agent.environments));
  const [roles, setRoles] = useState(agent.roles.join(', '));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onDone(await patch('/api/v1/agents/{id}', { params: { path: { id: agent.id } }, body: { environments: [...environments], roles: parseLabels(roles) } }));
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Environments and roles of “${agent.name}”`} open onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} aria-label={`Environments and roles of ${agent.name}`}>
        <p>Deployments already made keep the targets they were made with.</p>
        <EnvironmentChecklist selected={environments} onChange={setEnvironments} />
        <div className="field">
          <label htmlFor="labels-roles">Roles</label>
          <input id="labels-roles" value={roles} onChange={(e) => setRoles(e.target.value)} placeholder="web, db" />
        </div>
        <ErrorMessage error={error} />
        <div className="dialog-actions">
          <button type="button" className="button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Reject (pending) or revoke (pending or approved), with an optional reason kept in the audit log. */
export function DecideAgentDialog({ agent, decision, onClose, onDone }: { agent: Agent; decision: 'reject' | 'revoke'; onClose: () => void; onDone: (agent: Agent) => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const verb = decision === 'reject' ? 'Reject' : 'Revoke';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onDone(await post(`/api/v1/agents/{id}/${decision}`, { params: { path: { id: agent.id } }, body: reason.trim() ? { reason: reason.trim() } : {} }));
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <Dialog title={`${verb} agent “${agent.name}”`} open onClose={onClose}>
      <form onSubmit={(e) => void submit(e)} aria-label={`${verb} agent ${agent.name}`}>
        <p>
          {decision === 'reject'
            ? 'A rejected agent never receives work and cannot ask again with this key.'
            : 'A revoked agent is disconnected within a second, on every node, and never receives work again.'}
        </p>
        <div className="field">
          <label htmlFor="decide-reason">Reason (optional, kept in the audit log)</label>
          <input id="decide-reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} />
        </div>
        <ErrorMessage error={error} />
        <div className="dialog-actions">
          <button type="button" className="button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button-danger" disabled={busy}>
            {busy ? (decision === 'reject' ? 'Rejecting…' : 'Revoking…') : verb}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
