import { MASK } from '../protocol/masking';
import { lookupIn, substitute, variableKey } from '../protocol/substitution';
import { type PromptAnswer, type ProvidedValue, stepVariables, type StepVariables } from '../variables/step-variables';
import type { OpenValue } from '../variables/variables.service';
import type { Step } from './process.schema';

/** What a deployment is, as its system variables tell the scripts. */
export interface DeploymentFacts {
  id: string;
  taskId: string;
  project: string;
  release: string;
  releaseNotes: string;
  environmentId: string;
  environment: string;
  createdBy: string;
}

export interface TargetAgent {
  id: string;
  name: string;
  roles: string[];
}

/** Corral's read-only values of a step on an agent (tenant ones come with tenants). */
export function systemVariables(d: DeploymentFacts, step: string, agent?: TargetAgent): ProvidedValue[] {
  const values: Record<string, string> = {
    'Corral.Project.Name': d.project,
    'Corral.Release.Number': d.release,
    'Corral.Release.Notes': d.releaseNotes,
    'Corral.Environment.Name': d.environment,
    'Corral.Deployment.Id': d.id,
    'Corral.Deployment.CreatedBy': d.createdBy,
    'Corral.Step.Name': step,
    ...(agent ? { 'Corral.Agent.Name': agent.name, 'Corral.Agent.Roles': agent.roles.join(',') } : {}),
    'Corral.Task.Id': d.taskId,
  };
  return Object.entries(values).map(([name, value]) => ({ name, value, sensitive: false, reason: 'system variable' }));
}

/** An output an earlier step's job set on an agent. */
export interface StepOutput {
  step: string;
  agent: string;
  name: string;
  value: string;
  sensitive: boolean;
}

/**
 * Outputs as later steps read them: `Corral.Output[Step][agent].NAME` always, and
 * `Corral.Output[Step].NAME` when one agent of the step set it; when several did, that name says so.
 */
export function outputVariables(outputs: StepOutput[]): { values: ProvidedValue[]; unavailable: Map<string, string> } {
  const values: ProvidedValue[] = [];
  const bySetter = new Map<string, StepOutput[]>();
  for (const o of outputs) {
    const reason = `output of step "${o.step}" on ${o.agent}`;
    values.push({ name: `Corral.Output[${o.step}][${o.agent}].${o.name}`, value: o.value, sensitive: o.sensitive, reason });
    const short = `Corral.Output[${o.step}].${o.name}`;
    bySetter.set(variableKey(short), [...(bySetter.get(variableKey(short)) ?? []), o]);
  }
  const unavailable = new Map<string, string>();
  for (const [key, set] of bySetter) {
    const [o] = set;
    if (set.length === 1) values.push({ name: `Corral.Output[${o.step}].${o.name}`, value: o.value, sensitive: o.sensitive, reason: `output of step "${o.step}" on ${o.agent}` });
    else unavailable.set(key, `was set by ${set.length} agents (${set.map((x) => x.agent).join(', ')}); name one: #{Corral.Output[${o.step}][${set[0].agent}].${o.name}}`);
  }
  return { values, unavailable };
}

/** Outputs of steps that have not run yet cannot be checked before the deployment starts: they are taken on trust until then. */
const isOutput = (name: string) => variableKey(name).startsWith('corral.output[');

/** A release's variables with the answers of one deployment and the outputs so far: what each of its steps sees on each agent. */
export class DeploymentValues {
  private readonly outputs: ReturnType<typeof outputVariables>;
  private readonly planning: boolean;

  /** `outputs` null: planned before anything ran, so references to outputs are not checked yet. */
  constructor(
    readonly values: OpenValue[],
    readonly answers: Map<string, PromptAnswer>,
    private readonly facts: DeploymentFacts,
    outputs: StepOutput[] | null,
  ) {
    this.planning = outputs === null;
    this.outputs = outputVariables(outputs ?? []);
  }

  forTarget(step: Step & { kind: 'script' }, agent: TargetAgent): StepVariables {
    return stepVariables(
      this.values,
      { environmentId: this.facts.environmentId, agentId: agent.id, roles: agent.roles, step: step.name },
      [...systemVariables(this.facts, step.name, agent), ...this.outputs.values],
      this.answers,
      undefined,
      this.outputs.unavailable,
    );
  }

  /**
   * A text people read (a manual step's instructions) with the values the step sees in the
   * environment, sensitive ones as `***`; a name not defined there stays as written.
   */
  shown(step: Step, text: string): string {
    const seen = stepVariables(this.values, { environmentId: this.facts.environmentId, step: step.name }, [...systemVariables(this.facts, step.name), ...this.outputs.values], this.answers);
    const values = Object.fromEntries(seen.variables.map((v) => [v.name, v.sensitive ? MASK : v.value]));
    return substitute(text, lookupIn(values)).text;
  }

  /** Why the step cannot run on the agent (a name its script uses that is not defined there), or null. */
  problem(step: Step & { kind: 'script' }, agent: TargetAgent, seen = this.forTarget(step, agent)): string | null {
    const problems = seen.problems(step.script.body, this.planning ? isOutput : undefined);
    return problems.length ? `step "${step.name}" cannot run on ${agent.name}: ${problems.join('; ')}` : null;
  }
}
