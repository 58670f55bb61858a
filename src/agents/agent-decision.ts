import type { Agent } from './agent.entity';

/** An agent's status and who decided it. */
export type Decided = Pick<Agent, 'id' | 'name' | 'status' | 'decidedByLabel' | 'decisionReason'>;

/** Who decided the agent's status and why, as the agent is told it ("revoked by ops@acme.test: key leaked"). */
export function decisionText(agent: Decided): string | null {
  if (agent.status === 'pending' || !agent.decidedByLabel) return agent.decisionReason;
  return `${agent.status} by ${agent.decidedByLabel}${agent.decisionReason ? `: ${agent.decisionReason}` : ''}`;
}

/** `CODE: message` for an agent that may not connect, as close reasons and errors carry it. */
export function refusal(agent: Decided): string {
  const by = agent.decidedByLabel ? ` by ${agent.decidedByLabel}` : '';
  const why = agent.decisionReason ? ` (${agent.decisionReason})` : '';
  // WebSocket close reasons are limited to 123 bytes.
  return `AGENT_${agent.status.toUpperCase()}: agent "${agent.name}" was ${agent.status}${by}${why}`.slice(0, 120);
}
