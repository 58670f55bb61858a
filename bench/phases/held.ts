import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../test/helpers/control-plane-process';
import { type Bench, rssBytes } from '../node';
import { percentiles } from '../percentiles';
import type { Phase } from '../phase';
import { formatSample } from '../prometheus';
import { post, SimAgent } from '../sim-agent';
import { memorySamples } from './idle';

export interface HeldLatencies {
  apiP50Ms: number | null;
  apiP99Ms: number | null;
  dispatchP50Ms: number | null;
  dispatchP99Ms: number | null;
}

export interface HeldResult {
  /** Agents, and streams, that were open (as many as asked for unless the node died). */
  agents: number;
  streams: number;
  /** On the node with neither the fleet nor the streams. */
  usual: HeldLatencies;
  /** With both held open; null when the node died first. */
  held: HeldLatencies;
  /** held / usual p99s; the goal is heldP99 ≤ max(2 × usual, usual + SLACK_MS). */
  apiP99Ratio: number | null;
  dispatchP99Ratio: number | null;
  /** The node's peak RSS from connecting the fleet until the held measurement ended (or the node died). */
  rssBytes: number;
  rssBoundBytes: number;
  /** The node's RSS at each step, to tell what the agents and what the streams cost. */
  rssAtBytes: { alone: number; withAgents: number | null; withStreams: number | null };
  /** The node's V8 heap in use when the held measurement ended. */
  heapUsedBytes: number | null;
  /** Seconds from the first stream's request until all were open. */
  streamsOpenSeconds: number | null;
  /** Streams the node closed while they were held: it should close none. */
  streamsLost: number;
  /** How the node died under the load, if it did; the figures it did not reach are null. */
  nodeExited: string | null;
}

/**
 * The node's peak RSS may not exceed this while it holds the full sizes. From the first runs
 * (2 cores, December 2026): about 245 MiB alone and 320 MiB with the 10,000 agents; an open stream
 * is a socket and a few closures, so 2,000 of them should add tens of MiB. 1 GiB leaves room for
 * the burst of opening them and for the garbage V8 keeps after a burst. The node went far past it
 * in those runs (about 3.3 GiB), each stream holding a set of every agent id of its organisation;
 * since one set serves all of an organisation's streams (src/console/agent-events.service.ts) the
 * peak was 324 MiB.
 */
const RSS_BOUND_BYTES = 1024 ** 3;
/** The agents, besides the fleet, that take the timed tasks (finishing each at once). */
const DISPATCH_AGENTS = 10;
/** API calls, and tasks, a second while measuring: a busy console and a pipeline, well under the API rate limits. */
const RATE = 20;
const WARMUP_SECONDS = 2;
/** A p99 may grow by this much even when that is more than twice the usual: on an idle node the usual is a few ms, and a single GC pause doubles it. */
const SLACK_MS = 20;
/** Viewer keys the streams are spread over, as a few console users would be. */
const STREAM_KEYS = 8;
/** Streams opened at once; each batch takes at least STREAM_BATCH_MS, so opening stays under the per-address API rate limit. */
const STREAM_BATCH = 50;
const STREAM_BATCH_MS = 200;
/** Every agent and stream comes from one address of one organisation: the live-connection limits would refuse most, and they are not what is measured here. */
const UNLIMITED_LIVE_CONNECTIONS = { ORG_MAX_LIVE_CONNECTIONS: '1000000', LIVE_CONNECTIONS_PER_IP: '1000000' };
/** A typical console list call. */
const API_PATH = '/api/v1/tasks?limit=50';

/**
 * The fleet of idle agents and thousands of open console event streams on one node: a console API
 * call and a dispatch timed before and while they are held, and the node's memory meanwhile.
 */
export const heldPhase: Phase<HeldResult> = {
  name: 'held',
  key: 'held',
  usesFleet: false,
  agents: (sizes) => sizes.idle + DISPATCH_AGENTS,
  run: held,
  rows(r, sizes) {
    const load = `${sizes.idle.toLocaleString('en')} agents and ${sizes.heldStreams.toLocaleString('en')} event streams open`;
    const goal = `p99 ≤ max(2 × usual, usual + ${SLACK_MS} ms)`;
    const shown = (p50: number | null, p99: number | null, ratio?: number | null) =>
      p99 !== null ? `${p50} / ${p99} ms${ratio != null ? `, p99 ${ratio}× usual` : ''}` : `not reached: ${r!.nodeExited}`;
    const memory = (x: HeldResult) => `${mib(x.rssBytes)} MiB${x.heapUsedBytes !== null ? ` (heap ${mib(x.heapUsedBytes)} MiB)` : ''}${x.nodeExited ? `, then ${x.nodeExited}` : ''}`;
    return [
      [`held: API GET ${API_PATH}, usual (p50 / p99)`, r ? shown(r.usual.apiP50Ms, r.usual.apiP99Ms) : 'not run', ''],
      [`held: API GET ${API_PATH}, ${load} (p50 / p99)`, r ? shown(r.held.apiP50Ms, r.held.apiP99Ms, r.apiP99Ratio) : 'not run', goal],
      ['held: dispatch, usual (p50 / p99)', r ? shown(r.usual.dispatchP50Ms, r.usual.dispatchP99Ms) : 'not run', ''],
      [`held: dispatch, ${load} (p50 / p99)`, r ? shown(r.held.dispatchP50Ms, r.held.dispatchP99Ms, r.dispatchP99Ratio) : 'not run', goal],
      ['held: node peak RSS (heap used at the end)', r ? memory(r) : 'not run', `≤ ${mib(RSS_BOUND_BYTES).toLocaleString('en')} MiB`],
    ];
  },
};

async function held(bench: Bench): Promise<HeldResult> {
  const { quick, sizes } = bench.options;
  const seconds = quick ? 5 : 20;
  await bench.node!.stop();
  await bench.start(UNLIMITED_LIVE_CONNECTIONS);
  const node = bench.node!.child;
  const timer = new DispatchTimer();
  const takers = bench.seeded
    .slice(sizes.idle, sizes.idle + DISPATCH_AGENTS)
    .map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: 4, onOffer: (offer, at) => timer.offered(offer.name, at) }));
  bench.agents.push(...takers);
  for (const a of takers) a.connectWs();
  await waitFor('the dispatch agents connected', () => takers.every((a) => a.connected), 60_000);
  bench.say(`held: ${RATE} API calls and ${RATE} tasks a second for ${seconds} s (after ${WARMUP_SECONDS} s not counted), first on the node alone`);
  const usual = await measure(bench, 'usual', seconds, timer, takers);

  const alone = rssBytes(node.pid!);
  const result: HeldResult = {
    agents: 0,
    streams: 0,
    usual,
    held: { apiP50Ms: null, apiP99Ms: null, dispatchP50Ms: null, dispatchP99Ms: null },
    apiP99Ratio: null,
    dispatchP99Ratio: null,
    rssBytes: alone,
    rssBoundBytes: RSS_BOUND_BYTES,
    rssAtBytes: { alone, withAgents: null, withStreams: null },
    heapUsedBytes: null,
    streamsOpenSeconds: null,
    streamsLost: 0,
    nodeExited: null,
  };
  const sampler = setInterval(() => {
    try {
      result.rssBytes = Math.max(result.rssBytes, rssBytes(node.pid!));
    } catch {
      // the node has exited: its peak is what was read before
    }
  }, 250);
  const streams: EventStream[] = [];
  try {
    await holdAndMeasure(bench, result, streams, timer, takers, seconds);
  } catch (err) {
    // The node dying under the load is a result; anything else is the bench's failure.
    const exit = await waitFor('the node to exit', () => exitOf(node), 5_000).catch(() => null);
    if (!exit) throw err;
    result.nodeExited = `the node exited (${exit}) with ${result.agents} agents and ${streams.length} streams open`;
    bench.say(`  ${result.nodeExited}; starting another`);
    await bench.start(UNLIMITED_LIVE_CONNECTIONS);
  } finally {
    clearInterval(sampler);
    for (const s of streams) s.close();
    await bench.stopAgents();
  }
  return result;
}

/** The fleet connected, then the streams opened, then the latencies again: filling in `result` as it goes, so what was reached is kept if the node dies. */
async function holdAndMeasure(bench: Bench, result: HeldResult, streams: EventStream[], timer: DispatchTimer, takers: SimAgent[], seconds: number) {
  const { quick, verbose, sizes } = bench.options;
  const pid = bench.node!.child.pid!;
  bench.say(`  connecting ${sizes.idle} WebSocket agents`);
  result.agents = (await bench.fleet()).length;
  result.rssAtBytes.withAgents = rssBytes(pid);
  bench.say(`  opening ${sizes.heldStreams} console event streams over ${STREAM_KEYS} keys`);
  const keys = await viewerKeys(bench, STREAM_KEYS);
  const opening = setInterval(() => bench.say(`  ${streams.length} streams open, node RSS ${mib(result.rssBytes)} MiB at most`), 10_000);
  const openingFrom = performance.now();
  try {
    for (let i = 0; i < sizes.heldStreams; i += STREAM_BATCH) {
      const next = sleep(STREAM_BATCH_MS);
      const batch = Array.from({ length: Math.min(STREAM_BATCH, sizes.heldStreams - i) }, (_, j) => openEventStream(bench.url, keys[(i + j) % keys.length]));
      streams.push(...(await Promise.all(batch)));
      result.streams = streams.length;
      await next;
    }
  } finally {
    clearInterval(opening);
  }
  result.streamsOpenSeconds = Math.round((performance.now() - openingFrom) / 100) / 10;
  // The streams and agents idle a moment first: what is measured is holding them, not the burst of opening them.
  await sleep(quick ? 2_000 : 10_000);
  result.rssAtBytes.withStreams = rssBytes(pid);
  bench.say(`  measuring again with ${result.agents} agents and ${streams.length} streams open (opened in ${result.streamsOpenSeconds} s)`);
  result.held = await measure(bench, 'held', seconds, timer, takers);
  result.apiP99Ratio = ratio(result.held.apiP99Ms, result.usual.apiP99Ms);
  result.dispatchP99Ratio = ratio(result.held.dispatchP99Ms, result.usual.dispatchP99Ms);
  const metrics = await bench.metrics();
  result.heapUsedBytes = metrics.value('corral_nodejs_heap_size_used_bytes') ?? null;
  result.streamsLost = streams.filter((s) => s.closed()).length;
  if (verbose) {
    const { alone, withAgents, withStreams } = result.rssAtBytes;
    bench.say(`  node RSS ${mib(alone)} MiB alone, ${mib(withAgents!)} MiB with the agents, ${mib(withStreams!)} MiB with the streams too, ${mib(result.rssBytes)} MiB at most`);
    bench.say(memorySamples(metrics).map(formatSample).join('\n'));
  }
}

/** How the node's process ended, or null while it runs. */
function exitOf(child: ChildProcess): string | null {
  if (child.signalCode) return child.signalCode;
  return child.exitCode === null ? null : `code ${child.exitCode}`;
}

/** Task names to the moment their creation was requested, and the offers' delays. */
class DispatchTimer {
  private readonly sent = new Map<string, number>();
  latencies: number[] = [];

  sending(name: string) {
    this.sent.set(name, performance.now());
  }

  offered(name: string, at: number) {
    const t0 = this.sent.get(name);
    if (t0 !== undefined) this.latencies.push(at - t0);
  }

  start() {
    this.sent.clear();
    this.latencies = [];
  }
}

/** RATE console API calls and RATE tasks a second, side by side: each call timed to its answer, each task from the request until its agent holds the offer. */
async function measure(bench: Bench, label: string, seconds: number, timer: DispatchTimer, takers: SimAgent[]): Promise<HeldLatencies> {
  const n = RATE * (WARMUP_SECONDS + seconds);
  const warmup = RATE * WARMUP_SECONDS;
  const api: number[] = [];
  const paced = async (each: (i: number) => Promise<void>) => {
    const begin = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const wait = begin + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(each(i));
    }
    await Promise.all(pending);
  };
  timer.start();
  await Promise.all([
    paced(async (i) => {
      const t0 = performance.now();
      const res = await get(bench.url + API_PATH, { authorization: `Bearer ${bench.apiKey}` });
      if (res.status !== 200) throw new Error(`GET ${API_PATH}: ${res.status} ${res.text.slice(0, 200)}`);
      if (i >= warmup) api.push(performance.now() - t0);
    }),
    paced(async (i) => {
      const name = `held-${label}-${i}`;
      if (i >= warmup) timer.sending(name);
      const res = await bench.createTask({ name, targets: { agentIds: [takers[i % takers.length].o.id] }, script: { syntax: 'sh', body: 'true' } });
      if (res.status !== 201) throw new Error(`POST /api/v1/tasks: ${res.status} ${res.text.slice(0, 200)}`);
    }),
  ]);
  await waitFor(`every offer (${label})`, () => timer.latencies.length >= n - warmup, 60_000).catch(() => undefined);
  const a = percentiles(api);
  const d = percentiles(timer.latencies);
  bench.say(`  ${label}: API ${JSON.stringify(a)}, dispatch ${JSON.stringify(d)}`);
  return { apiP50Ms: a.p50, apiP99Ms: a.p99, dispatchP50Ms: d.p50, dispatchP99Ms: d.p99 };
}

/** `count` viewer API keys of the bench's organisation, made with its own key. */
async function viewerKeys(bench: Bench, count: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await post(`${bench.url}/api/v1/api-keys`, { 'content-type': 'application/json', authorization: `Bearer ${bench.apiKey}` }, JSON.stringify({ name: `held-${i}`, role: 'viewer' }));
    if (res.status !== 201) throw new Error(`POST /api/v1/api-keys: ${res.status} ${res.text.slice(0, 200)}`);
    keys.push((JSON.parse(res.text) as { key: string }).key);
  }
  return keys;
}

interface EventStream {
  closed(): boolean;
  close(): void;
}

// The console's list calls go over connections kept alive, as a browser's do.
const keepAlive = new http.Agent({ keepAlive: true });

function get(url: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: keepAlive }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** GET /api/v1/agent-events on a connection of its own, as a console tab holds it: open once its `ready` event arrives, everything after it read and dropped. */
function openEventStream(url: string, apiKey: string): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const req = http.get(`${url}/api/v1/agent-events`, { headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' }, agent: false }, (res) => {
      let head = '';
      res.on('close', () => (closed = true));
      if (res.statusCode !== 200) {
        res.on('data', (c: Buffer) => (head += c.toString()));
        res.on('end', () => reject(new Error(`GET /api/v1/agent-events: ${res.statusCode} ${head.slice(0, 200)}`)));
        return;
      }
      const onData = (c: Buffer) => {
        head += c.toString();
        if (!head.includes('event: ready')) return;
        res.off('data', onData);
        res.resume(); // from here on, read and dropped
        resolve({ closed: () => closed, close: () => req.destroy() });
      };
      res.on('data', onData);
      res.on('end', () => reject(new Error('GET /api/v1/agent-events: the stream ended before its ready event')));
    });
    req.on('error', (err) => (closed ? undefined : reject(err)));
  });
}

function ratio(held: number | null, usual: number | null): number | null {
  return held !== null && usual ? Math.round((held / usual) * 100) / 100 : null;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}
