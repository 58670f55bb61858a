import { useState } from 'react';
import { messageOf, post } from './api-client';
import { refusalsOf } from './target-refusals';
import type { HealthCheckTask, TargetRefusal } from './types';

export interface HealthCheckStarter {
  /** Checks these agents, or every approved agent of the organisation; the task, or null when the server refused. */
  start: (agentIds?: string[]) => Promise<HealthCheckTask | null>;
  busy: boolean;
  /** The server's message when it refused (NO_AGENTS, TARGETS_REFUSED, ...). */
  error: string | null;
  refusals: TargetRefusal[];
}

/** POST /api/v1/agents/health-checks, with what a page needs to show while and after it runs. */
export function useHealthCheck(): HealthCheckStarter {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [refusals, setRefusals] = useState<TargetRefusal[]>([]);

  const start = async (agentIds?: string[]) => {
    setBusy(true);
    setError(null);
    setRefusals([]);
    try {
      return await post('/api/v1/agents/health-checks', { body: agentIds ? { agentIds } : {} });
    } catch (err) {
      setError(messageOf(err));
      setRefusals(refusalsOf(err));
      return null;
    } finally {
      setBusy(false);
    }
  };
  return { start, busy, error, refusals };
}
