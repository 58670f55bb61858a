import type { JobOfferPayload, JobResult, LocalPolicy, ScriptSyntax } from '../../../src/protocol/messages';
import { lookupIn, substitute } from '../../../src/protocol/substitution';
import { HealthCheck } from './health-check';
import { JobRunner, type Interpreter, type RunAsUser, type RunnerSink, type RunnerTimings, type RunResult } from './job-runner';

/** How a started job ended, and what it found when its kind reports something (a health check). */
export interface ExecutionResult extends RunResult {
  result?: JobResult | null;
}

/**
 * A started job of any kind, as the manager drives it: a script's process group, or a check the
 * agent makes itself. `done` resolves once it has ended and its output is complete; it never rejects.
 */
export interface JobExecution {
  readonly done: Promise<ExecutionResult>;
  /** It was started and has not ended. */
  readonly running: boolean;
  /** The process group id, for kinds that run one. */
  readonly pid: number | null;
  start(): void;
  /** Ends it early: the first outcome given wins; `graceMs` is how long a process gets between SIGTERM and SIGKILL. */
  stop(outcome: 'cancelled' | 'timed_out', graceMs: number, line: string, message: string): void;
  /** Clears timers that would otherwise outlive a test; a process is left alone. */
  dispose(): void;
}

/** What any kind needs to run one job attempt. */
export interface ExecutionContext {
  workDir: string;
  runAs: RunAsUser | null;
  env: NodeJS.ProcessEnv;
  /** Where the job's output and the agent's notes about it go (the job's masked log spool). */
  sink: RunnerSink;
  runnerTimings: Partial<RunnerTimings>;
  interpreters?: Record<ScriptSyntax, Interpreter>;
  stateDir: string;
  /** The local policy the job was allowed by (a health check reports it). */
  policy: LocalPolicy;
  now: () => number;
}

/** What runs an offer, by its kind: a script in its own process group, or a health check the agent makes itself. */
export function executionFor(offer: JobOfferPayload, ctx: ExecutionContext): JobExecution {
  const script = (env: NodeJS.ProcessEnv, body: { syntax: ScriptSyntax; body: string }, helper?: Record<string, string>) =>
    new JobRunner(
      { jobId: offer.jobId, attempt: offer.attempt, syntax: body.syntax, body: body.body, timeoutSeconds: offer.timeoutSeconds, workDir: ctx.workDir, runAs: ctx.runAs, env, helper },
      ctx.sink,
      { timings: ctx.runnerTimings, interpreters: ctx.interpreters },
    );
  switch (offer.kind) {
    case 'script':
      return script(ctx.env, offer.script);
    case 'deployment': {
      const d = offer.deployment;
      const values = offer.payloadVersion === 1 ? undefined : stepValues(offer);
      const body = values ? { ...offer.script, body: filled(offer.script.body, values) } : offer.script;
      return script(
        {
          ...ctx.env,
          CORRAL_DEPLOYMENT_ID: d.id,
          CORRAL_PROJECT: d.project,
          CORRAL_RELEASE: d.release,
          CORRAL_ENVIRONMENT: d.environment,
          CORRAL_STEP: d.step,
          CORRAL_TASK_ID: offer.taskId,
        },
        body,
        values,
      );
    }
    case 'health-check':
      // Runs no user code, so it needs no working directory and no other user: it is the agent's own look at itself.
      return new HealthCheck({ stateDir: ctx.stateDir, env: ctx.env, policy: ctx.policy, now: ctx.now, timeoutSeconds: offer.timeoutSeconds, sink: ctx.sink });
  }
}

/** The values a version-2 step sees: the plain ones from its payload, the sensitive ones from its secrets. */
function stepValues(offer: JobOfferPayload & { kind: 'deployment' }): Record<string, string> {
  const values: Record<string, string> = {};
  for (const v of offer.variables) values[v.name] = v.value;
  for (const v of offer.sensitiveVariables) {
    const value = offer.sensitiveValues[v.secret];
    if (value !== undefined) values[v.name] = value;
  }
  return values;
}

/**
 * The step's script with its `#{Name}` references replaced by the values the control plane
 * resolved for this agent. It checked that every reference resolves; a reference that does not
 * (an offer from a control plane that did not check) is never run as text: the job fails.
 */
function filled(body: string, values: Record<string, string>): string {
  const { text, unresolved } = substitute(body, lookupIn(values));
  if (unresolved.length) throw new Error(`the script uses ${unresolved.map((n) => `#{${n}}`).join(', ')}, which the control plane did not send; nothing was run`);
  return text;
}
