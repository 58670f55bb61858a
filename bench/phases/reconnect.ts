import { waitFor } from '../../test/helpers/control-plane-process';
import type { Bench } from '../node';
import type { Phase } from '../phase';

export interface ReconnectResult {
  agents: number;
  seconds: number;
}

/** The node restarts under all the agents of the fleet: how long until every one is back. */
export const reconnectPhase: Phase<ReconnectResult> = {
  name: 'reconnect',
  key: 'reconnect',
  usesFleet: true,
  agents: (sizes) => sizes.idle,
  run: reconnect,
  rows: (r, sizes) => [[`reconnect after restart (${r?.agents ?? sizes.idle} agents)`, r ? `${r.seconds} s` : 'not run', '≤ 60 s']],
};

async function reconnect(bench: Bench): Promise<ReconnectResult> {
  const agents = await bench.fleet();
  bench.say(`reconnect: restarting the node under ${agents.length} agents`);
  const stopped = bench.node!.stop();
  const restartAt = performance.now();
  await stopped;
  bench.say(`  the node stopped after ${((performance.now() - restartAt) / 1000).toFixed(1)} s`);
  await bench.start();
  bench.say(`  the node is back after ${((performance.now() - restartAt) / 1000).toFixed(1)} s`);
  const progress = setInterval(() => bench.say(`  ${agents.filter((a) => a.connected).length} back after ${((performance.now() - restartAt) / 1000).toFixed(0)} s`), 5000);
  await waitFor('agents back', () => agents.every((a) => a.connected), 300_000, 100).finally(() => clearInterval(progress));
  return { agents: agents.length, seconds: Math.round(((performance.now() - restartAt) / 1000) * 10) / 10 };
}
