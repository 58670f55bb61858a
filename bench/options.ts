/** How much work each phase does; BENCH_RATE, BENCH_TASKS, BENCH_IDLE and BENCH_STREAMS override some. */
export interface Sizes {
  /** Agents on WebSocket during dispatch. */
  dispatchWs: number;
  /** Agents long-polling during dispatch. */
  dispatchPoll: number;
  /** Tasks created per second during dispatch. */
  rate: number;
  /** Seconds of dispatch that are counted. */
  seconds: number;
  throughputTasks: number;
  throughputAgents: number;
  /** Agents in the fleet the idle, reconnect and held phases connect. */
  idle: number;
  /** Console event streams the held phase keeps open beside the fleet. */
  heldStreams: number;
  /** Agents the one large deployment of the deploy phase runs on. */
  deployAgents: number;
  /** Projects that deploy at once in the deploy phase, each to the same deployProjectAgents agents. */
  deployProjects: number;
  deployProjectAgents: number;
  /** Deployment requests of those projects in flight at once: all of them unless BENCH_DEPLOY_WIDTH says fewer. */
  deployWidth: number;
}

export interface BenchOptions {
  json: boolean;
  quick: boolean;
  verbose: boolean;
  sizes: Sizes;
}

export function sizesFor(quick: boolean, env: NodeJS.ProcessEnv): Sizes {
  const n = (name: string, fallback: number) => Number(env[name] ?? fallback);
  const sizes = quick
    ? { dispatchWs: 80, dispatchPoll: 20, rate: n('BENCH_RATE', 100), seconds: 5, throughputTasks: n('BENCH_TASKS', 2000), throughputAgents: 20, idle: n('BENCH_IDLE', 1000) }
    : { dispatchWs: 800, dispatchPoll: 200, rate: n('BENCH_RATE', 200), seconds: 15, throughputTasks: n('BENCH_TASKS', 20_000), throughputAgents: 100, idle: n('BENCH_IDLE', 10_000) };
  const deployProjects = quick ? 40 : 200;
  return {
    ...sizes,
    heldStreams: n('BENCH_STREAMS', quick ? 200 : 2000),
    deployAgents: quick ? 200 : 1000,
    deployProjects,
    deployProjectAgents: 50,
    deployWidth: n('BENCH_DEPLOY_WIDTH', deployProjects),
  };
}
