import type { HealthCheckResult, HealthVerdict } from '../protocol/messages';

/** An agent's last health check, as the agent view shows it. */
export interface AgentHealth {
  verdict: HealthVerdict;
  problems: string[];
  checkedAt: string;
  taskId: string;
  /** The agent's clock minus the control plane's when the answer arrived (null without an answer). */
  clockOffsetMs: number | null;
  /** What the agent found; null when the check ended without an answer. */
  facts: HealthCheckResult['facts'] | null;
}
