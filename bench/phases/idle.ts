import { setTimeout as sleep } from 'node:timers/promises';
import { type Bench, rssBytes } from '../node';
import type { Phase } from '../phase';
import { formatSample, type PrometheusMetrics, type Sample } from '../prometheus';

export interface IdleResult {
  agents: number;
  rssBytesPerAgent: number;
  dbQueriesPerMinute: number;
}

/** Many connected agents doing nothing, on a freshly started node: memory per agent and statements per minute. */
export const idlePhase: Phase<IdleResult> = {
  name: 'idle',
  key: 'idle',
  usesFleet: true,
  agents: (sizes) => sizes.idle,
  run: idle,
  rows: (r, sizes) => [
    [`idle memory (${r?.agents ?? sizes.idle} agents)`, r ? `${(r.rssBytesPerAgent / 1024).toFixed(1)} KiB per agent` : 'not run', '≤ 16 KiB'],
    ['idle database queries', r ? `${r.dbQueriesPerMinute} per minute` : 'not run', 'near zero'],
  ],
};

async function idle(bench: Bench): Promise<IdleResult> {
  const { quick, verbose, sizes } = bench.options;
  await bench.node!.stop();
  await bench.start();
  // Both readings are of a node left idle long enough for V8 to give back what a burst (start-up,
  // then 10,000 connections) left behind: its memory reducer waits until its running average of
  // the allocation rate, which still counts the burst, has fallen low, most of a minute after one.
  await sleep(quick ? 5_000 : 20_000);
  const rssBefore = rssBytes(bench.node!.child.pid!);
  bench.say(`idle: connecting ${Math.min(sizes.idle, bench.seeded.length)} WebSocket agents`);
  const agents = await bench.fleet();
  // The node counts the statements it sends; PostgreSQL's own counters lag by seconds.
  const windowMs = quick ? 10_000 : 90_000;
  const before = await queriesSent(bench);
  await sleep(windowMs);
  // Reading /metrics costs one statement itself (the queue gauges).
  const queries = Math.max(0, (await queriesSent(bench)) - before - 1) * (60_000 / windowMs);
  // Memory as the operator sees it after that idle while, including any of the burst's garbage V8 has not given back yet.
  const rssAfter = rssBytes(bench.node!.child.pid!);
  if (verbose) {
    bench.say(`node RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB before connecting, ${(rssAfter / 2 ** 20).toFixed(1)} MiB after the idle window`);
    bench.say(
      memorySamples(await bench.metrics())
        .map(formatSample)
        .join('\n'),
    );
  }
  return { agents: agents.length, rssBytesPerAgent: Math.round(Math.max(0, rssAfter - rssBefore) / agents.length), dbQueriesPerMinute: Math.round(queries) };
}

async function queriesSent(bench: Bench): Promise<number> {
  return (await bench.metrics()).value('corral_db_queries_total') ?? NaN;
}

const MEMORY = ['corral_process_resident_memory_bytes', 'corral_nodejs_heap_size_used_bytes', 'corral_nodejs_heap_size_total_bytes', 'corral_nodejs_external_memory_bytes'];
const HEAP_SPACES = ['corral_nodejs_heap_space_size_used_bytes', 'corral_nodejs_heap_space_size_total_bytes'];

/** The node's memory by kind, and the heap spaces that grow with connections. */
export function memorySamples(metrics: PrometheusMetrics): Sample[] {
  return metrics.allSamples().filter(({ name, labels }) => MEMORY.includes(name) || (HEAP_SPACES.includes(name) && ['new', 'old', 'large_object'].includes(labels.space)));
}
