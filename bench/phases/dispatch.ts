import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../test/helpers/control-plane-process';
import type { Bench, GcPauses } from '../node';
import { type Percentiles, percentiles } from '../percentiles';
import type { Phase } from '../phase';
import { formatSample, type PrometheusMetrics, type Sample } from '../prometheus';
import { SimAgent } from '../sim-agent';

type Transport = 'websocket' | 'longPoll';

export type DispatchResult = Record<Transport, Percentiles>;

const WARMUP_SECONDS = 3;

/**
 * Tasks created through the API at a steady rate, spread evenly over all the connected agents
 * (most on WebSocket, some long-polling, as behind proxies that refuse WebSocket), each timed
 * from the API request until its agent holds the offer.
 */
export const dispatchPhase: Phase<DispatchResult> = {
  name: 'dispatch',
  key: 'dispatchLatencyMs',
  usesFleet: false,
  agents: (sizes) => sizes.dispatchWs + sizes.dispatchPoll,
  run: dispatch,
  rows(r) {
    const ms = (p: Percentiles | undefined) => (p ? `${p.p50} / ${p.p95} / ${p.p99} ms` : 'not run');
    return [
      ['dispatch, WebSocket (p50 / p95 / p99)', ms(r?.websocket), 'p99 ≤ 15 ms'],
      ['dispatch, long-poll (p50 / p95 / p99)', ms(r?.longPoll), 'p99 ≤ 50 ms'],
    ];
  },
};

async function dispatch(bench: Bench): Promise<DispatchResult> {
  const { sizes, verbose } = bench.options;
  const sent = new Map<string, number>();
  const latency: Record<Transport, number[]> = { websocket: [], longPoll: [] };
  // With --verbose: how it went second by second, and where the time goes (the offer says when the node signed it).
  const bySecond = new Map<string, number[]>();
  const parts = { post: [] as number[], toSigned: [] as number[], signedToAgent: [] as number[] };
  let begin = 0;
  const onOffer = (kind: Transport) => (offer: { name: string; issuedAt: number }, at: number) => {
    const t0 = sent.get(offer.name);
    if (t0 === undefined) return;
    latency[kind].push(at - t0);
    if (!verbose) return;
    const wall = (t: number) => performance.timeOrigin + t;
    parts.toSigned.push(offer.issuedAt - wall(t0));
    parts.signedToAgent.push(wall(at) - offer.issuedAt);
    const key = `${kind} ${String(Math.floor((t0 - begin) / 1000)).padStart(2)}`;
    bySecond.set(key, [...(bySecond.get(key) ?? []), at - t0]);
  };
  const pool = bench.seeded.slice(0, sizes.dispatchWs + sizes.dispatchPoll);
  const wsAgents = pool.slice(0, sizes.dispatchWs).map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 4, onOffer: onOffer('websocket') }));
  const pollAgents = pool.slice(sizes.dispatchWs).map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 4, onOffer: onOffer('longPoll') }));
  const everyone = [...wsAgents, ...pollAgents];
  bench.agents.push(...everyone);
  for (const a of wsAgents) a.connectWs();
  for (const a of pollAgents) void a.pollLoop();
  await waitFor('dispatch agents connected', () => everyone.every((a) => a.connected), 120_000);
  bench.say(
    `dispatch: ${sizes.rate} tasks/s for ${sizes.seconds} s (after ${WARMUP_SECONDS} s not counted), spread over ${wsAgents.length} WebSocket and ${pollAgents.length} long-polling agents`,
  );
  // Every agent in turn, in an order that mixes the transports.
  const targets = everyone.map((a) => a.o.id).sort(() => Math.random() - 0.5);
  const stopSampling = bench.sampleWaits();
  // The node's event-loop figures start over from here; statements are counted from here.
  const statementsBefore = verbose ? await bench.statementCounts() : new Map<string, number>();
  const gcBefore = verbose ? await bench.gcPauses() : new Map<string, GcPauses>();
  const benchLag = monitorEventLoopDelay({ resolution: 1 });
  benchLag.enable();
  // The first seconds warm the node up (code paths compiled, statements prepared on every pooled connection) and are not counted.
  const warmup = sizes.rate * WARMUP_SECONDS;
  const n = warmup + sizes.rate * sizes.seconds;
  const posts: Promise<unknown>[] = [];
  begin = performance.now();
  for (let i = 0; i < n; i++) {
    const wait = begin + (i * 1000) / sizes.rate - performance.now();
    if (wait > 0) await sleep(wait);
    const name = `dispatch-${i}`;
    const t0 = performance.now();
    if (i >= warmup) sent.set(name, t0);
    posts.push(
      bench.createTask({ name, targets: { agentIds: [targets[i % targets.length]] }, script: { syntax: 'sh', body: 'true' } }).then(() => {
        if (i >= warmup) parts.post.push(performance.now() - t0);
      }),
    );
  }
  await Promise.all(posts);
  await waitFor('every offer', () => latency.websocket.length + latency.longPoll.length >= n - warmup, 60_000).catch(() => undefined);
  stopSampling();
  benchLag.disable();
  bench.showWaits('dispatch');
  if (verbose) {
    bench.say(`  bench event loop delay ms: p50 ${(benchLag.percentile(50) / 1e6).toFixed(1)} p99 ${(benchLag.percentile(99) / 1e6).toFixed(1)} max ${(benchLag.max / 1e6).toFixed(1)}`);
    for (const [key, values] of [...bySecond].sort()) bench.say(`  ${key.padEnd(12)} ${JSON.stringify(percentiles(values))}`);
    for (const [part, values] of Object.entries(parts)) bench.say(`  ${part.padEnd(14)} ${JSON.stringify(percentiles(values))}`);
    const statements = [...(await bench.statementCounts())].map(([k, v]) => [k, v - (statementsBefore.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
    bench.say(
      `  statements per task: ${statements
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => `${k} ${(v / n).toFixed(2)}`)
        .join(', ')}`,
    );
    // Each pause stops the node's event loop: a dispatch that meets one waits it out.
    const gc = [...(await bench.gcPauses())].map(([kind, p]) => ({ kind, count: p.count - (gcBefore.get(kind)?.count ?? 0), ms: (p.seconds - (gcBefore.get(kind)?.seconds ?? 0)) * 1000 }));
    bench.say(
      `  node GC pauses: ${gc
        .filter((g) => g.count > 0)
        .map((g) => `${g.kind} ${g.count} × ${(g.ms / g.count).toFixed(1)} ms`)
        .join(', ')}`,
    );
    bench.say(
      dispatchSamples(await bench.metrics())
        .map(formatSample)
        .join('\n'),
    );
  }
  await bench.stopAgents();
  return { websocket: percentiles(latency.websocket), longPoll: percentiles(latency.longPoll) };
}

const HOT_STATEMENTS = ['create_tasks', 'claim_offers', 'api_key_principals', 'task_targets'];

/** The node's own view of dispatch: its event-loop lag, and the fast buckets of the hot statements and of creating a task. */
export function dispatchSamples(metrics: PrometheusMetrics): Sample[] {
  const shown = ({ name, labels }: Sample) => {
    if (name === 'corral_nodejs_eventloop_lag_p99_seconds' || name === 'corral_nodejs_eventloop_lag_max_seconds') return true;
    if (name === 'corral_db_statement_duration_seconds_bucket') return ['0.01', '0.025'].includes(labels.le) && HOT_STATEMENTS.includes(labels.statement);
    const creatingTasks = labels.method === 'POST' && labels.route === '/api/v1/tasks';
    if (name === 'corral_http_request_duration_seconds_bucket') return creatingTasks && ['0.005', '0.01', '0.025'].includes(labels.le);
    return creatingTasks && name === 'corral_http_request_duration_seconds_count';
  };
  return metrics.allSamples().filter(shown);
}
