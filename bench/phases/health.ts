import { waitFor } from '../../test/helpers/control-plane-process';
import type { Bench } from '../node';
import type { Phase } from '../phase';
import { post, SimAgent } from '../sim-agent';

const AGENTS = 1_000;

/** One health check of 1,000 agents on WebSockets: milliseconds from the request until every verdict is recorded. */
export const healthPhase: Phase<number> = {
  name: 'health',
  key: 'health',
  usesFleet: false,
  agents: () => AGENTS,
  run: health,
  rows: (r) => [[`health check of ${AGENTS.toLocaleString('en')} agents, all verdicts recorded`, r === null ? 'not run' : `${r} ms`, '≤ 3,000 ms']],
};

async function health(bench: Bench): Promise<number> {
  bench.say(`health: one health check of ${AGENTS} agents`);
  const checked = bench.seeded.slice(0, AGENTS);
  const agents = checked.map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 4 }));
  bench.agents.push(...agents);
  for (const a of agents) a.connectWs();
  await waitFor('health agents connected', () => agents.every((a) => a.connected), 120_000);
  const started = performance.now();
  const res = await post(
    `${bench.url}/api/v1/agents/health-checks`,
    { 'content-type': 'application/json', authorization: `Bearer ${bench.apiKey}` },
    JSON.stringify({ agentIds: checked.map((s) => s.id) }),
  );
  if (res.status !== 201) throw new Error(`health check: ${res.status} ${res.text}`);
  const { id } = JSON.parse(res.text) as { id: string };
  await waitFor('every verdict recorded', async () => (await bench.db.query(`SELECT count(*)::int AS n FROM agents WHERE health ->> 'taskId' = $1`, [id])).rows[0].n >= AGENTS, 120_000, 10);
  const ms = Math.round(performance.now() - started);
  await bench.stopAgents();
  return ms;
}
