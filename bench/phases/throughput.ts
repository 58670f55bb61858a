import { waitFor } from '../../test/helpers/control-plane-process';
import type { Bench } from '../node';
import type { Phase } from '../phase';
import { SimAgent } from '../sim-agent';

/** A backlog of one-job tasks drained by agents that finish at once: jobs completed and recorded per second. */
export const throughputPhase: Phase<number> = {
  name: 'throughput',
  key: 'throughputJobsPerSec',
  usesFleet: false,
  agents: (sizes) => sizes.throughputAgents,
  run: throughput,
  rows: (r) => [['throughput, end to end', r === null ? 'not run' : `${r} jobs/s`, '≥ 5,000 jobs/s']],
};

async function throughput(bench: Bench): Promise<number> {
  const { sizes } = bench.options;
  bench.say(`throughput: a backlog of ${sizes.throughputTasks} one-job tasks, drained by ${sizes.throughputAgents} agents`);
  const drainers = bench.seeded.slice(0, sizes.throughputAgents);
  await bench.backlog(
    'tp',
    sizes.throughputTasks,
    drainers.map((d) => d.id),
  );
  let finished = 0;
  const tpAgents = drainers.map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 8, onFinished: () => finished++ }));
  bench.agents.push(...tpAgents);
  const stopSampling = bench.sampleWaits();
  const started = performance.now();
  for (const a of tpAgents) a.connectWs();
  await waitFor('backlog drained', () => finished >= sizes.throughputTasks, 240_000, 20);
  const seconds = (performance.now() - started) / 1000;
  stopSampling();
  bench.showWaits('throughput');
  await bench.stopAgents();
  // Every acknowledged finish is recorded: the count in the database says so.
  const recorded = (await bench.db.query(`SELECT count(*)::int AS n FROM tasks WHERE name LIKE 'tp-%' AND state = 'succeeded'`)).rows[0].n as number;
  if (recorded < sizes.throughputTasks) throw new Error(`only ${recorded} of ${sizes.throughputTasks} tasks are recorded as succeeded`);
  return Math.round(sizes.throughputTasks / seconds);
}
