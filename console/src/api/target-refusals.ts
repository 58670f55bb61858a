import { ApiError } from './api-client';
import type { TargetRefusal } from './types';

/** The agents a 422 TARGETS_REFUSED names, each with why it was refused; none for any other error. */
export function refusalsOf(err: unknown): TargetRefusal[] {
  if (!(err instanceof ApiError) || err.code !== 'TARGETS_REFUSED' || !Array.isArray(err.details)) return [];
  return (err.details as Partial<TargetRefusal>[]).flatMap((d) =>
    typeof d?.reason === 'string' && d.reason ? [{ agentId: String(d.agentId ?? ''), name: String(d.name ?? ''), reason: d.reason }] : [],
  );
}
