import { formatBytes } from '../protocol/byte-size';
import type { LogDropped } from '../protocol/messages';

/**
 * The log line standing for output the agent dropped (its spool of unsent output reached its cap
 * during an outage). When some of those chunks reached the server before the agent dropped them,
 * fewer are missing than the agent counted, and its byte count is an upper bound.
 */
export function droppedMarker(dropped: LogDropped, missing: number): string {
  const size = missing === dropped.chunks ? formatBytes(dropped.bytes) : `up to ${formatBytes(dropped.bytes)}`;
  return `\n[corral] ${size} of output was dropped on the agent: the spool reached its ${formatBytes(dropped.capBytes)} cap while the control plane was unreachable\n`;
}

/** The log line where a job's output was cut at its organisation's limit per job (`cap` bytes). */
export function truncatedMarker(cap: number): string {
  return `\n[corral] log truncated: this job's output passed ${cap} bytes, the organisation's limit per job; the rest was not kept and the job ran on\n`;
}
