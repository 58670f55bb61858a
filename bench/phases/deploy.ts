import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../test/helpers/control-plane-process';
import type { Bench } from '../node';
import type { Phase } from '../phase';
import { post, SimAgent } from '../sim-agent';

/** The one deployment to many agents, each from sending its request. */
interface WideFigures {
  /** Until the API answered it. */
  answeredMs: number;
  /** Until every agent held its job's offer. */
  allOfferedMs: number;
  /** Until the control plane had started every job (each agent held its server.job.start). */
  allStartedMs: number;
  /** Until the deployment was recorded as succeeded. */
  allFinishedMs: number;
}

/** The many projects' deployments, each from sending the first request. */
interface ManyFigures {
  /** Until every request was answered. */
  projectsAnsweredMs: number;
  /** Until every deployment was recorded as succeeded. */
  projectsFinishedMs: number;
  deploymentsPerSecond: number;
  /** Their jobs (projects × 2 steps × projectAgents) ended per second. */
  jobsPerSecond: number;
}

type OrNull<T> = { [K in keyof T]: T[K] | null };

/** Figures are null when the node stalled before they were measured. */
export type DeployResult = OrNull<WideFigures> &
  OrNull<ManyFigures> & {
    /** One deployment of a one-step process to this many agents. */
    agents: number;
    /** Then this many projects deploying a two-step release at once, each to the same projectAgents agents. */
    projects: number;
    projectAgents: number;
    /** How many of the projects' deployment requests were in flight at once. */
    requestsAtOnce: number;
    /** Why the figures stop where they do, when the node stopped answering or finishing (it was then restarted). */
    stalled: string | null;
  };

/** The node stopped answering or finishing within a bound no healthy run comes near. */
class Stalled extends Error {}

// One environment only: the default lifecycle has a phase per environment, so a second one would
// refuse deployments until the first had succeeded.
const ENVIRONMENT = 'Bench';
const WIDE_ROLE = 'bench-wide';
const PROJECT_ROLE = 'bench-project';
// As in the throughput phase: each agent the projects share runs up to 8 jobs at once (each of its
// 2 × projects jobs waits for a slot otherwise); the one wide deployment gives each agent one job.
const PROJECT_AGENT_MAX_JOBS = 8;
// Projects, processes and releases made at once while setting up (not timed).
const SETUP_WIDTH = 8;
// Far longer than any deployment request or run takes unless the node is stuck.
const STALL_MS = 60_000;

/**
 * Deployments through the API to agents that finish every job at once: one of a one-step process
 * to many agents (how long until all its jobs are started, and until it has succeeded), then many
 * projects deploying a two-step release at once to the same few agents (deployments completed per second).
 */
export const deployPhase: Phase<DeployResult> = {
  name: 'deploy',
  key: 'deploy',
  usesFleet: false,
  agents: (sizes) => Math.max(sizes.deployAgents, sizes.deployProjectAgents),
  run: deploy,
  rows(r, sizes) {
    const wide = `deploy 1 step to ${(r?.agents ?? sizes.deployAgents).toLocaleString('en')} agents`;
    const width = r?.requestsAtOnce ?? Math.min(sizes.deployWidth, sizes.deployProjects);
    const projects = r?.projects ?? sizes.deployProjects;
    const many = `${projects} projects deploy 2 steps at once to ${r?.projectAgents ?? sizes.deployProjectAgents} agents${width < projects ? ` (${width} requests at a time)` : ''}`;
    const shown = (value: number | null | undefined, unit: string) => (value != null ? `${value} ${unit}` : r?.stalled ? 'stalled' : 'not run');
    return [
      [`${wide}, all jobs started`, shown(r?.allStartedMs, 'ms'), '≤ 1,000 ms'],
      [`${wide}, succeeded`, shown(r?.allFinishedMs, 'ms'), '≤ 2,000 ms'],
      [`${many}, all succeeded`, shown(r?.deploymentsPerSecond, 'deployments/s'), '≥ 50 deployments/s'],
    ];
  },
};

async function deploy(bench: Bench): Promise<DeployResult> {
  const { sizes } = bench.options;
  const result: DeployResult = {
    agents: sizes.deployAgents,
    answeredMs: null,
    allOfferedMs: null,
    allStartedMs: null,
    allFinishedMs: null,
    projects: sizes.deployProjects,
    projectAgents: sizes.deployProjectAgents,
    requestsAtOnce: Math.min(sizes.deployWidth, sizes.deployProjects),
    projectsAnsweredMs: null,
    projectsFinishedMs: null,
    deploymentsPerSecond: null,
    jobsPerSecond: null,
    stalled: null,
  };
  await label(bench);
  try {
    Object.assign(result, await deployWide(bench, result.agents));
    Object.assign(result, await deployMany(bench, result.projects, result.projectAgents, result.requestsAtOnce));
  } catch (err) {
    if (!(err instanceof Stalled)) throw err;
    // A stuck node would never finish a graceful stop either: the phases after this one get a new one.
    result.stalled = `${err.message}; ${await nodeConnections(bench)}`;
    bench.say(`  stalled: ${result.stalled}\n  killing the node and starting another`);
    await bench.stopAgents();
    bench.node!.child.kill('SIGKILL');
    await bench.node!.stop();
    await bench.start();
  }
  return result;
}

/** The environment, and its agents' labels as an admin's approval sets them: every deploy agent in it with the wide role, the first few with the projects' role too. */
async function label(bench: Bench) {
  const { deployAgents, deployProjectAgents } = bench.options.sizes;
  await api(bench, 'POST', '/api/v1/environments', { name: ENVIRONMENT });
  await bench.db.query(
    `UPDATE agents a SET environments = ARRAY[$1], roles = CASE WHEN u.n <= $4 THEN ARRAY[$2, $3] ELSE ARRAY[$2] END
       FROM unnest($5::uuid[]) WITH ORDINALITY AS u(id, n) WHERE a.id = u.id`,
    [ENVIRONMENT, WIDE_ROLE, PROJECT_ROLE, deployProjectAgents, bench.seeded.slice(0, Math.max(deployAgents, deployProjectAgents)).map((s) => s.id)],
  );
  await bench.db.query('ANALYZE agents');
}

async function deployWide(bench: Bench, n: number): Promise<WideFigures> {
  bench.say(`deploy: one deployment of a one-step process to ${n} agents`);
  const releaseId = await makeRelease(bench, 'Bench wide', [scriptStep('deploy', WIDE_ROLE)]);
  // Job id → the deployment it is a step of, and when its offer and its start arrived.
  const deploymentOf = new Map<string, string>();
  const offered = new Map<string, number>();
  const started = new Map<string, number>();
  const agents = bench.seeded.slice(0, n).map(
    (s) =>
      new SimAgent({
        ...s,
        server: bench.url,
        maxJobs: 1,
        onOffer: (offer, at) => {
          if (offer.kind !== 'deployment') return;
          deploymentOf.set(offer.jobId, offer.deployment.id);
          offered.set(offer.jobId, at);
        },
        onStart: (jobId, at) => {
          if (deploymentOf.has(jobId)) started.set(jobId, at);
        },
      }),
  );
  // Started as the agents see it: the server sends server.job.start only once the job's move to
  // running under a lease is committed, and the agent runs nothing before it arrives. The times are
  // those the messages arrived, not those the bench noticed them.
  const mine = (id: string, times: Map<string, number>) => [...times].filter(([jobId]) => deploymentOf.get(jobId) === id).map(([, at]) => at);
  await connect(bench, agents);
  const t0 = performance.now();
  const { id, answeredMs, ended, allFinishedMs } = await sampled(bench, async () => {
    const id = await createDeployment(bench, releaseId);
    const answeredMs = performance.now() - t0;
    await stalledWaitFor('every job of the deployment started', () => mine(id, started).length >= n, 5);
    // Finished as the API reports it: the deployment's own state, read from its row every 5 ms (on the
    // bench's connection, so the polling costs the node nothing; GET /deployments/:id of 1,000 targets would).
    const ended = await stalledWaitFor('the deployment to end', async () => (await bench.db.query(`SELECT state FROM deployments WHERE id = $1 AND finished_at IS NOT NULL`, [id])).rows[0], 5);
    return { id, answeredMs, ended, allFinishedMs: performance.now() - t0 };
  });
  if (ended.state !== 'succeeded') throw new Error(`the deployment to ${n} agents ended ${ended.state}`);
  bench.showWaits('the deployment to many agents');
  // What the API says of it, once: every target succeeded.
  const seen = await api(bench, 'GET', `/api/v1/deployments/${id}`);
  const succeeded = seen.steps.flatMap((s: { targets: { state: string }[] }) => s.targets).filter((t: { state: string }) => t.state === 'succeeded').length;
  if (seen.state !== 'succeeded' || succeeded !== n) throw new Error(`the API shows the deployment ${seen.state} with ${succeeded} of ${n} targets succeeded`);
  if (bench.options.verbose) {
    // The node's own clock: from the deployment's transaction to its last job's start, and to its end.
    const server = await bench.db.query(
      `SELECT round(extract(epoch FROM max(j.started_at) - d.created_at) * 1000) AS started, round(extract(epoch FROM d.finished_at - d.created_at) * 1000) AS finished
         FROM deployments d JOIN jobs j ON j.task_id = d.task_id WHERE d.id = $1 GROUP BY d.id`,
      [id],
    );
    bench.say(`  answered after ${Math.round(answeredMs)} ms; the node's rows: last job started ${server.rows[0].started} ms, succeeded ${server.rows[0].finished} ms after it began`);
  }
  await bench.stopAgents();
  return {
    answeredMs: Math.round(answeredMs),
    allOfferedMs: Math.round(Math.max(...mine(id, offered)) - t0),
    allStartedMs: Math.round(Math.max(...mine(id, started)) - t0),
    allFinishedMs: Math.round(allFinishedMs),
  };
}

async function deployMany(bench: Bench, projects: number, n: number, width: number): Promise<ManyFigures> {
  bench.say(`deploy: ${projects} projects deploying a two-step release at once to the same ${n} agents`);
  const releaseIds = await inParallel(projects, SETUP_WIDTH, (i) => makeRelease(bench, `Bench project ${i + 1}`, [scriptStep('install', PROJECT_ROLE), scriptStep('restart', PROJECT_ROLE)]));
  const agents = bench.seeded.slice(0, n).map((s) => new SimAgent({ ...s, server: bench.url, maxJobs: PROJECT_AGENT_MAX_JOBS }));
  await connect(bench, agents);
  const t0 = performance.now();
  const { projectsAnsweredMs, counts, seconds } = await sampled(bench, async () => {
    const ids = await inParallel(projects, width, (i) => createDeployment(bench, releaseIds[i]));
    const projectsAnsweredMs = performance.now() - t0;
    const counts = await stalledWaitFor(
      'every deployment to end',
      async () => {
        const row = (
          await bench.db.query(
            `SELECT count(*) FILTER (WHERE finished_at IS NOT NULL)::int AS ended, count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded FROM deployments WHERE id = ANY ($1::uuid[])`,
            [ids],
          )
        ).rows[0] as { ended: number; succeeded: number };
        return row.ended >= projects ? row : null;
      },
      10,
    );
    return { projectsAnsweredMs, counts, seconds: (performance.now() - t0) / 1000 };
  });
  if (counts.succeeded < projects) throw new Error(`only ${counts.succeeded} of ${projects} deployments succeeded`);
  bench.showWaits('the deployments of many projects');
  await bench.stopAgents();
  return {
    projectsAnsweredMs: Math.round(projectsAnsweredMs),
    projectsFinishedMs: Math.round(seconds * 1000),
    deploymentsPerSecond: Math.round((projects / seconds) * 10) / 10,
    jobsPerSecond: Math.round((projects * 2 * n) / seconds),
  };
}

function scriptStep(name: string, role: string) {
  return { name, kind: 'script', script: { syntax: 'sh', body: 'true' }, targetRoles: [role] };
}

/** A project with this process and one release of it; the release's id. */
async function makeRelease(bench: Bench, name: string, steps: unknown[]): Promise<string> {
  const project = await api(bench, 'POST', '/api/v1/projects', { name });
  await api(bench, 'PUT', `/api/v1/projects/${project.id}/process`, { steps });
  return (await api(bench, 'POST', `/api/v1/projects/${project.id}/releases`, {})).id;
}

/** The timed request: over node:http with connections kept alive, as the tasks of the dispatch phase are sent. */
async function createDeployment(bench: Bench, releaseId: string): Promise<string> {
  const answer = post(
    `${bench.url}/api/v1/releases/${releaseId}/deployments`,
    { 'content-type': 'application/json', authorization: `Bearer ${bench.apiKey}` },
    JSON.stringify({ environment: ENVIRONMENT }),
  );
  const timer = new AbortController();
  const res = await Promise.race([answer, sleep(STALL_MS, null, { signal: timer.signal }).catch(() => null)]).finally(() => timer.abort());
  if (!res) throw new Stalled(`no answer to a deployment request after ${STALL_MS} ms`);
  if (res.status !== 201) throw new Error(`deploying release ${releaseId}: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { id: string }).id;
}

/** The timed work, with --verbose where the database connections were meanwhile (sampling stops however it ends). */
async function sampled<T>(bench: Bench, work: () => Promise<T>): Promise<T> {
  const stopSampling = bench.sampleWaits();
  try {
    return await work();
  } finally {
    stopSampling();
  }
}

/** waitFor, up to STALL_MS, failing as Stalled. */
async function stalledWaitFor<T>(what: string, predicate: () => T | Promise<T>, intervalMs: number): Promise<NonNullable<T>> {
  return waitFor(what, predicate, STALL_MS, intervalMs).catch((err: Error) => {
    throw new Stalled(err.message);
  });
}

/** Where the node's database connections are, to say why it stalled. */
async function nodeConnections(bench: Bench): Promise<string> {
  const rows = await bench.db.query<{ state: string; n: number }>(
    `SELECT coalesce(state, '-') AS state, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'corral' GROUP BY 1 ORDER BY 2 DESC`,
  );
  return `the node's database connections: ${rows.rows.map((r) => `${r.n} ${r.state}`).join(', ')}`;
}

/** A request of the setup with the bench's API key; anything but a success throws with the answer. */
async function api(bench: Bench, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${bench.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bench.apiKey}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function connect(bench: Bench, agents: SimAgent[]) {
  bench.agents.push(...agents);
  for (const a of agents) a.connectWs();
  await waitFor('deploy agents connected', () => agents.every((a) => a.connected), 120_000);
}

/** work(0 … count - 1), at most `width` at a time, none begun after one fails; the results in order. */
async function inParallel<T>(count: number, width: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < count && !failed) {
      const i = next++;
      results[i] = await work(i).catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return results;
}
