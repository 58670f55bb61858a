import type { LocalPolicy } from '../protocol/messages';
import { policyRefusal } from '../protocol/policy-check';
import type { Step } from './process.schema';

/** The job kind of a deployment step on one agent. */
export const DEPLOYMENT_JOB_KIND = 'deployment';

export type StepState = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
/** `active`: its job is queued, offered or running; `not_started`: the step stopped before it (with why). */
export type TargetState = 'pending' | 'active' | 'succeeded' | 'failed' | 'not_started' | 'excluded' | 'cancelled';

export interface Candidate {
  id: string;
  name: string;
  roles: string[];
  policy: LocalPolicy | null;
}

export interface PlannedTarget {
  agentId: string;
  agentName: string;
  state: 'pending' | 'excluded';
  reason: string | null;
}

export interface PlannedStep {
  position: number;
  name: string;
  /** Steps of one block run side by side (`startWithPrevious`); blocks run in order. */
  block: number;
  state: 'pending' | 'skipped';
  reason: string | null;
  targets: PlannedTarget[];
}

export type PlanRefusal = { code: 'REQUIRED_STEP_HAS_NO_TARGETS' | 'TARGET_POLICY_REFUSED' | 'UNRESOLVED_VARIABLE' | 'PROMPTED_VARIABLE_MISSING'; message: string };

export interface PlanInput {
  organizationId: string;
  environment: { id: string; name: string };
  /** Approved agents in the environment. */
  agents: Candidate[];
  skipSteps: string[];
  excludeAgentIds: ReadonlySet<string>;
}

/**
 * What a deployment will do, decided once when it is created: which steps run and on which
 * agents, which are skipped and why, or why it may not be deployed at all (a required step
 * with nobody to run it, a target whose host refuses deployments).
 */
export function planDeployment(steps: Step[], input: PlanInput): { steps: PlannedStep[]; refusals: PlanRefusal[] } {
  const refusals: PlanRefusal[] = [];
  let block = -1;
  const planned = steps.map((step, position): PlannedStep => {
    if (position === 0 || step.kind !== 'script' || !step.startWithPrevious) block++;
    const base = { position, name: step.name, block, targets: [] as PlannedTarget[] };
    if (input.skipSteps.includes(step.name)) return { ...base, state: 'skipped', reason: 'skipped when the deployment was asked for' };
    if (step.environmentIds.length && !step.environmentIds.includes(input.environment.id))
      return { ...base, state: 'skipped', reason: `this step runs only in some environments, not in ${input.environment.name}` };
    if (step.kind === 'manual') return { ...base, state: 'pending', reason: null };
    const matching = input.agents.filter((a) => a.roles.some((r) => step.targetRoles.includes(r))).sort((a, b) => a.name.localeCompare(b.name));
    const targets = matching.map((a): PlannedTarget => {
      const excluded = input.excludeAgentIds.has(a.id);
      return { agentId: a.id, agentName: a.name, state: excluded ? 'excluded' : 'pending', reason: excluded ? 'excluded when the deployment was asked for' : null };
    });
    const runnable = targets.filter((t) => t.state === 'pending');
    if (!runnable.length) {
      const why = `no agent with role ${step.targetRoles.join(' or ')} in ${input.environment.name}${targets.length ? ' that is not excluded' : ''}`;
      if (step.required)
        refusals.push({ code: 'REQUIRED_STEP_HAS_NO_TARGETS', message: `step "${step.name}" is required, but there is ${why}: approve one with that role there, or make the step optional` });
      return { ...base, targets, state: 'skipped', reason: why };
    }
    for (const a of matching.filter((m) => !input.excludeAgentIds.has(m.id))) {
      const refused = policyRefusal(a.policy, { kind: DEPLOYMENT_JOB_KIND, organizationId: input.organizationId });
      if (refused)
        refusals.push({
          code: 'TARGET_POLICY_REFUSED',
          message: `step "${step.name}" would run on agent "${a.name}", whose host refuses it: ${refused}; exclude the agent, or change its policy`,
        });
    }
    return { ...base, targets, state: 'pending', reason: null };
  });
  return { steps: planned, refusals };
}

// ---- Running a deployment: one pure decision, applied in the transaction that heard of a change ----

export interface TargetModel {
  id: string;
  agentId: string;
  state: TargetState;
  reason: string | null;
}

export interface StepModel {
  id: string;
  position: number;
  block: number;
  step: Step;
  state: StepState;
  reason: string | null;
  /** A failure someone chose to ignore: it does not fail the deployment. */
  ignored: boolean;
  targets: TargetModel[];
}

export interface DeploymentModel {
  steps: StepModel[];
  guidedFailure: boolean;
  cancelRequested: boolean;
}

export type Effect =
  | { type: 'start'; step: StepModel; targets: TargetModel[] }
  | { type: 'interrupt'; step: StepModel; kind: 'manual' | 'guided-failure' }
  | { type: 'finish'; outcome: 'succeeded' | 'failed' | 'cancelled' };

const DONE: readonly StepState[] = ['succeeded', 'failed', 'skipped', 'cancelled'];

function failedBefore(model: DeploymentModel, block: number): boolean {
  return model.steps.some((s) => s.block < block && s.state === 'failed' && !s.ignored);
}

/**
 * Moves the deployment as far as it can go now, changing `model` in place, and says what must
 * happen outside it (jobs to start, interruptions to open, the end). Blocks run in order; a step
 * starts when its block does, if its condition holds; a script step keeps at most
 * `maxParallelism` jobs active and starts no more once more than `maxErrors` have failed.
 * Calling it again with nothing new changes nothing.
 */
export function advance(model: DeploymentModel): Effect[] {
  const effects: Effect[] = [];
  if (model.cancelRequested) {
    for (const s of model.steps) {
      for (const t of s.targets) if (t.state === 'pending') Object.assign(t, { state: 'cancelled', reason: 'the deployment was cancelled' });
      if (!DONE.includes(s.state) && !s.targets.some((t) => t.state === 'active')) Object.assign(s, { state: 'cancelled', reason: 'the deployment was cancelled' });
    }
    if (model.steps.every((s) => DONE.includes(s.state))) effects.push({ type: 'finish', outcome: 'cancelled' });
    return effects;
  }
  for (;;) {
    const block = model.steps.find((s) => !DONE.includes(s.state))?.block;
    if (block === undefined) {
      effects.push({ type: 'finish', outcome: failedBefore(model, Infinity) ? 'failed' : 'succeeded' });
      return effects;
    }
    const failed = failedBefore(model, block);
    for (const s of model.steps.filter((x) => x.block === block)) {
      if (s.state === 'pending') {
        const condition = s.step.condition;
        if ((condition === 'success' && failed) || (condition === 'failure' && !failed)) {
          Object.assign(s, { state: 'skipped', reason: failed ? 'an earlier step failed' : 'runs only when an earlier step failed, and none did' });
          for (const t of s.targets) if (t.state === 'pending') Object.assign(t, { state: 'not_started', reason: 'the step was skipped' });
          continue;
        }
        s.state = s.step.kind === 'manual' ? 'waiting' : 'running';
        if (s.step.kind === 'manual') effects.push({ type: 'interrupt', step: s, kind: 'manual' });
      }
      if (s.state === 'running') runScriptStep(model, s, effects);
    }
    if (model.steps.some((s) => s.block === block && !DONE.includes(s.state))) return effects;
  }
}

function runScriptStep(model: DeploymentModel, s: StepModel, effects: Effect[]): void {
  if (s.step.kind !== 'script') return;
  const count = (state: TargetState) => s.targets.filter((t) => t.state === state).length;
  const maxErrors = s.step.maxErrors ?? 0;
  const tooMany = count('failed') > maxErrors;
  if (tooMany)
    for (const t of s.targets.filter((x) => x.state === 'pending'))
      Object.assign(t, { state: 'not_started', reason: `not started: ${count('failed')} of the step's jobs failed, more than its maxErrors (${maxErrors})` });
  const room = (s.step.maxParallelism ?? Infinity) - count('active');
  const starting = s.targets.filter((t) => t.state === 'pending').slice(0, Math.max(0, room));
  for (const t of starting) t.state = 'active';
  if (starting.length) effects.push({ type: 'start', step: s, targets: starting });
  if (count('active') || count('pending')) return;
  if (!tooMany) Object.assign(s, { state: 'succeeded', reason: count('failed') ? `${count('failed')} failed, within its maxErrors (${maxErrors})` : null });
  else if (model.guidedFailure) {
    s.state = 'waiting';
    effects.push({ type: 'interrupt', step: s, kind: 'guided-failure' });
  } else Object.assign(s, { state: 'failed', reason: `${count('failed')} of ${s.targets.length} jobs failed` });
}

export type InterruptionAction = 'proceed' | 'abort' | 'retry' | 'ignore' | 'exclude';

/** What answering a step's interruption does to it; `advance` then goes on from there. Returns the agents to exclude from the rest of the deployment. */
export function answer(model: DeploymentModel, s: StepModel, action: InterruptionAction, by: string): string[] {
  const failedTargets = s.targets.filter((t) => t.state === 'failed');
  switch (action) {
    case 'proceed':
      Object.assign(s, { state: 'succeeded', reason: `${by} proceeded` });
      return [];
    case 'abort':
      Object.assign(s, { state: 'failed', reason: `${by} aborted the deployment here` });
      return [];
    case 'ignore':
      Object.assign(s, { state: 'failed', ignored: true, reason: `${by} ignored the failure` });
      return [];
    case 'retry':
      for (const t of [...failedTargets, ...s.targets.filter((x) => x.state === 'not_started')]) Object.assign(t, { state: 'pending', reason: `retried by ${by}` });
      s.state = 'running';
      return [];
    case 'exclude': {
      const agents = new Set(failedTargets.map((t) => t.agentId));
      for (const step of model.steps)
        for (const t of step.targets)
          if (agents.has(t.agentId) && (t.state === 'failed' || t.state === 'pending')) Object.assign(t, { state: 'excluded', reason: `excluded by ${by} after it failed` });
      for (const t of s.targets.filter((x) => x.state === 'not_started')) Object.assign(t, { state: 'pending', reason: null });
      s.state = 'running';
      return [...agents];
    }
  }
}

/** The answers an interruption of this kind takes. */
export const INTERRUPTION_ACTIONS: Record<'manual' | 'guided-failure', InterruptionAction[]> = {
  manual: ['proceed', 'abort'],
  'guided-failure': ['retry', 'ignore', 'exclude', 'abort'],
};
