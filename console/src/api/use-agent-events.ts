import { useEffect, useEffectEvent } from 'react';

export interface AgentChange {
  agentId: string;
  /** null when the agent was deleted. */
  status: string | null;
}

/**
 * Follows GET /api/v1/agent-events (server-sent events). `onChange` gets each change of an agent
 * of this organisation; `null` means "re-read everything" (connected, reconnected, resync).
 */
export function useAgentEvents(onChange: (change: AgentChange | null) => void): void {
  const handle = useEffectEvent(onChange);

  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    const source = new EventSource('/api/v1/agent-events');
    // `ready` arrives on every (re)connection: anything may have changed while we were away.
    source.addEventListener('ready', () => handle(null));
    source.addEventListener('resync', () => handle(null));
    source.addEventListener('agent-changed', (e) => {
      try {
        handle(JSON.parse((e as MessageEvent<string>).data) as AgentChange);
      } catch {
        handle(null);
      }
    });
    return () => source.close();
  }, []);
}
