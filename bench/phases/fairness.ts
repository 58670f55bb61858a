import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../test/helpers/control-plane-process';
import type { Bench, SeededOrganization } from '../node';
import { type Percentiles, percentiles } from '../percentiles';
import type { Phase } from '../phase';
import { SimAgent } from '../sim-agent';

export interface FairnessResult {
  idleP50Ms: number | null;
  idleP99Ms: number | null;
  floodP50Ms: number | null;
  floodP99Ms: number | null;
  /** floodP99Ms / idleP99Ms: the goal is at most 2. */
  p99Ratio: number | null;
  /** Jobs of the flood still queued when the measurement ended: above zero, the flood lasted the whole window. */
  floodLeft: number;
}

/** Jobs the flooding organisation keeps queued, at least, while the quiet one is measured. */
const FLOOD_QUEUED = 20_000;
/** Enough that FLOOD_QUEUED are still queued when the measurement ends (floodLeft says whether they were). */
const FLOOD_JOBS = 3 * FLOOD_QUEUED;
const QUIET_AGENTS = 10;
/** Tasks per second the quiet organisation creates, both times. */
const QUIET_RATE = 40;

/**
 * One organisation's backlog of at least 20,000 queued jobs, drained by its agents as fast as they finish, against
 * another organisation's dispatch latency: the quiet organisation's tasks are timed from the API
 * request until its agent holds the offer, first on an idle node, then during the flood.
 */
export const fairnessPhase: Phase<FairnessResult> = {
  name: 'fairness',
  key: 'fairness',
  usesFleet: false,
  agents: (sizes) => sizes.throughputAgents,
  run: fairness,
  rows(r) {
    const ms = (p50: number | null | undefined, p99: number | null | undefined) => (r ? `${p50} / ${p99} ms` : 'not run');
    return [
      ['fairness, quiet org idle (p50 / p99)', ms(r?.idleP50Ms, r?.idleP99Ms), ''],
      [`fairness, quiet org during a flood of ${FLOOD_QUEUED.toLocaleString('en')}+ queued jobs (p50 / p99)`, ms(r?.floodP50Ms, r?.floodP99Ms), ''],
      ['fairness, p99 flood / idle', r?.p99Ratio != null ? `${r.p99Ratio}×` : 'not run', '≤ 2×'],
    ];
  },
};

async function fairness(bench: Bench): Promise<FairnessResult> {
  // Short enough that the flood outlasts it.
  const seconds = bench.options.quick ? 3 : 6;
  const quiet = await bench.organization('Quiet', 'quiet@example.test', QUIET_AGENTS);
  const idle = await quietDispatch(bench, quiet, 'idle', seconds);

  const drainers = bench.seeded.slice(0, bench.options.sizes.throughputAgents);
  bench.say(`fairness: ${FLOOD_JOBS} queued jobs of another organisation, drained by ${drainers.length} agents, while the quiet one creates ${QUIET_RATE} tasks/s`);
  await bench.backlog(
    'flood',
    FLOOD_JOBS,
    drainers.map((d) => d.id),
  );
  let finished = 0;
  const flooders = drainers.map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 8, jobMs: Number(process.env.BENCH_FLOOD_JOB_MS ?? 0), onFinished: () => finished++ }));
  bench.agents.push(...flooders);
  for (const a of flooders) a.connectWs();
  // Measured once the flood is in full swing.
  await waitFor('the flood under way', () => finished >= 500, 120_000, 20);
  const floodStart = { at: performance.now(), finished };
  const flood = await quietDispatch(bench, quiet, 'flood', seconds);
  const floodLeft = FLOOD_JOBS - finished;
  const floodRate = Math.round((finished - floodStart.finished) / ((performance.now() - floodStart.at) / 1000));
  bench.say(`  the flood ran ${floodRate} jobs/s meanwhile; ${floodLeft} of its jobs were left when the measurement ended`);
  await bench.stopAgents();
  await bench.db.query(`DELETE FROM tasks WHERE organization_id = $1 AND name LIKE 'flood-%'`, [bench.orgId]);
  const ratio = idle.p99 && flood.p99 ? Math.round((flood.p99 / idle.p99) * 100) / 100 : null;
  return { idleP50Ms: idle.p50, idleP99Ms: idle.p99, floodP50Ms: flood.p50, floodP99Ms: flood.p99, p99Ratio: ratio, floodLeft };
}

/** The quiet organisation's agents connected, its tasks created at QUIET_RATE for `seconds` (after one not counted), each timed to its offer. */
async function quietDispatch(bench: Bench, quiet: SeededOrganization, label: string, seconds: number): Promise<Percentiles> {
  const sent = new Map<string, number>();
  const latency: number[] = [];
  const agents = quiet.agents.map(
    (s) =>
      new SimAgent({
        ...s,
        server: bench.url,
        maxJobs: 4,
        onOffer: (offer, at) => {
          const t0 = sent.get(offer.name);
          if (t0 !== undefined) latency.push(at - t0);
        },
      }),
  );
  bench.agents.push(...agents);
  for (const a of agents) a.connectWs();
  await waitFor('the quiet agents connected', () => agents.every((a) => a.connected), 60_000);
  const warmup = QUIET_RATE;
  const n = warmup + QUIET_RATE * seconds;
  const posts: Promise<unknown>[] = [];
  const begin = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = begin + (i * 1000) / QUIET_RATE - performance.now();
    if (wait > 0) await sleep(wait);
    const name = `quiet-${label}-${i}`;
    if (i >= warmup) sent.set(name, performance.now());
    posts.push(bench.createTask({ name, targets: { agentIds: [agents[i % agents.length].o.id] }, script: { syntax: 'sh', body: 'true' } }, quiet.apiKey));
  }
  await Promise.all(posts);
  await waitFor(`every quiet offer (${label})`, () => latency.length >= n - warmup, 60_000).catch(() => undefined);
  for (const a of agents) a.stop();
  const result = percentiles(latency);
  bench.say(`  quiet organisation, ${label}: ${JSON.stringify(result)}`);
  return result;
}
