import type { SoakApi } from './soak-api';
import type { SoakRandom } from './soak-random';

export type TaskShape = 'quick' | 'slow' | 'long' | 'fails' | 'times-out';

interface Shape {
  shape: TaskShape;
  weight: number;
  /** Seconds the script sleeps after recording its start. */
  sleep: [number, number];
  exitCode: number;
  timeoutSeconds: number;
}

// Most jobs are short; some outlive a lease (so heartbeats matter and a fault meets them running);
// a few end badly on purpose, so that failures and timeouts cross the faults too.
const SHAPES: readonly Shape[] = [
  { shape: 'quick', weight: 55, sleep: [0.1, 1.5], exitCode: 0, timeoutSeconds: 60 },
  { shape: 'slow', weight: 25, sleep: [2, 5], exitCode: 0, timeoutSeconds: 60 },
  { shape: 'long', weight: 10, sleep: [12, 20], exitCode: 0, timeoutSeconds: 60 },
  { shape: 'fails', weight: 6, sleep: [0.1, 1], exitCode: 3, timeoutSeconds: 60 },
  { shape: 'times-out', weight: 4, sleep: [30, 30], exitCode: 0, timeoutSeconds: 2 },
];

/** The shape a task was made with, read back from its name (`soak 12 quick`): also for tasks whose 201 was lost. */
export function shapeOf(taskName: string): TaskShape | undefined {
  const shape = /^soak \d+ ([a-z-]+)$/.exec(taskName)?.[1];
  return SHAPES.find((s) => s.shape === shape)?.shape;
}

/** The expected ending of a job of this shape that ran to its end. */
export function expectedEnd(shape: TaskShape): 'succeeded' | 'failed' | 'timed_out' {
  return shape === 'fails' ? 'failed' : shape === 'times-out' ? 'timed_out' : 'succeeded';
}

/** A run record: one line appended per process start, `<job id> <attempt> <agent id> <epoch µs>`. */
export const RUN_RECORD = /^([0-9a-f-]{36}) (\d+) ([0-9a-f-]{36}) (\d+)$/;

/**
 * The script: its first act records that this process started (job id, attempt, agent, time) in
 * the agent's own file, with one append (atomic for a line this short), before anything can fail.
 */
function scriptFor(shape: Shape, runsDir: string, random: SoakRandom): string {
  const sleep = random.between(...shape.sleep).toFixed(2);
  return [
    `printf '%s %s %s %s\\n' "$CORRAL_JOB_ID" "$CORRAL_ATTEMPT" "$CORRAL_AGENT_ID" "\${EPOCHREALTIME/[.,]/}" >> '${runsDir}/'"$CORRAL_AGENT_NAME.runs"`,
    `sleep ${sleep}`,
    `exit ${shape.exitCode}`,
  ].join('\n');
}

/** A task the API acknowledged with 201: the only ones the soak counts as created. */
export interface CreatedTask {
  id: string;
  shape: TaskShape;
  agentIds: string[];
  jobIds: string[];
  idempotent: boolean;
}

export interface WorkloadOptions {
  api: SoakApi;
  random: SoakRandom;
  runsDir: string;
  /** Agents tasks may target now (approved, not revoked). */
  targets: () => string[];
  /** The nodes up now, in the order to try. */
  liveUrls: () => string[];
  tasksPerSecond: number;
}

// Requests that hang on a node whose database is down must not pile up without bound.
const MAX_IN_FLIGHT = 16;

/**
 * Creates tasks at a steady rate through POST /api/v1/tasks on whichever node is up: a mix of
 * one-agent and several-agent tasks, idempotent (retried up to 3 attempts) and not. A request
 * that fails (a node or the database down) is counted by why; it is not a lost task.
 */
export class SoakWorkload {
  readonly created: CreatedTask[] = [];
  readonly refused: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private serial = 0;

  constructor(private readonly o: WorkloadOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.inFlight.size >= MAX_IN_FLIGHT) return void this.count('client: too many requests in flight');
      const targets = this.pickTargets();
      if (targets.length) this.track(this.create(targets));
    }, 1000 / this.o.tasksPerSecond);
  }

  /** Stops creating and waits for the requests still out. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.inFlight);
  }

  /** `count` tasks for these agents at once, not idempotent (to queue work on an agent, or to probe them all); resolves with those created. */
  async createNow(agentIds: string[], count: number, shape: TaskShape): Promise<CreatedTask[]> {
    const made = await Promise.all(
      Array.from({ length: count }, () =>
        this.create(
          agentIds,
          SHAPES.find((s) => s.shape === shape),
          false,
        ),
      ),
    );
    return made.filter((t): t is CreatedTask => t !== undefined);
  }

  private track(request: Promise<unknown>) {
    const done: Promise<void> = request.then(() => void this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private pickTargets(): string[] {
    const agents = this.o.targets();
    const { random } = this.o;
    return random.sample(agents, random.chance(0.7) ? 1 : random.int(2, 4));
  }

  private async create(agentIds: string[], shape = this.o.random.weighted(SHAPES), idempotent = this.o.random.chance(0.3)): Promise<CreatedTask | undefined> {
    const { api, random, runsDir } = this.o;
    const urls = random.shuffle(this.o.liveUrls());
    if (!urls.length) return void this.count('client: no node up');
    const body = {
      name: `soak ${++this.serial} ${shape.shape}`,
      targets: { agentIds },
      script: { syntax: 'bash', body: scriptFor(shape, runsDir, random) },
      timeoutSeconds: shape.timeoutSeconds,
      ...(idempotent ? { idempotent: true, maxAttempts: 3 } : {}),
    };
    const answer = await api.call(urls[0], 'POST', '/api/v1/tasks', body);
    if (!answer.ok) return void this.count(`network: ${answer.error}`);
    if (answer.status !== 201) return void this.count(`${answer.status} ${answer.body?.error?.code ?? ''}`.trim());
    const task: CreatedTask = {
      id: answer.body.id,
      shape: shape.shape,
      agentIds,
      jobIds: answer.body.jobs.map((j: { id: string }) => j.id),
      idempotent,
    };
    this.created.push(task);
    return task;
  }

  private count(reason: string) {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
  }
}
