import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AgentsRepository } from '../agents/agents.repository';
import { variableKey } from '../protocol/substitution';
import { type PromptAnswer, stepVariables, type StepVariables } from '../variables/step-variables';
import { type OpenValue, VariablesService } from '../variables/variables.service';
import { DeploymentsErrorCode, DeploymentsException } from './deployments.exception';
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
export function systemVariables(d: DeploymentFacts, step: string, agent: TargetAgent): Record<string, string> {
  return {
    'Corral.Project.Name': d.project,
    'Corral.Release.Number': d.release,
    'Corral.Release.Notes': d.releaseNotes,
    'Corral.Environment.Name': d.environment,
    'Corral.Deployment.Id': d.id,
    'Corral.Deployment.CreatedBy': d.createdBy,
    'Corral.Step.Name': step,
    'Corral.Agent.Name': agent.name,
    'Corral.Agent.Roles': agent.roles.join(','),
    'Corral.Task.Id': d.taskId,
  };
}

/** A release's variables with the answers of one deployment: what each of its steps sees on each agent. */
export class DeploymentValues {
  constructor(
    readonly values: OpenValue[],
    readonly answers: Map<string, PromptAnswer>,
    private readonly facts: DeploymentFacts,
  ) {}

  forTarget(step: Step & { kind: 'script' }, agent: TargetAgent): StepVariables {
    return stepVariables(
      this.values,
      { environmentId: this.facts.environmentId, agentId: agent.id, roles: agent.roles, step: step.name },
      systemVariables(this.facts, step.name, agent),
      this.answers,
    );
  }

  /** Why the step cannot run on the agent (a name its script uses that is not defined there), or null. */
  problem(step: Step & { kind: 'script' }, agent: TargetAgent): string | null {
    const problems = this.forTarget(step, agent).problems(step.script.body);
    return problems.length ? `step "${step.name}" cannot run on ${agent.name}: ${problems.join('; ')}` : null;
  }
}

/** Loads the variables deployments use: a release's snapshot, the answers to its prompts, the agents' roles. */
@Injectable()
export class DeploymentVariables {
  constructor(
    private readonly variables: VariablesService,
    private readonly agents: AgentsRepository,
  ) {}

  async release(em: EntityManager, organizationId: string, releaseId: string): Promise<OpenValue[]> {
    return this.variables.openValues(organizationId, [{ owner: { kind: 'release', id: releaseId }, source: { kind: 'project' } }], em);
  }

  /** The answers a deployment was given, as stored when it was made. */
  async answers(em: EntityManager, organizationId: string, deploymentId: string): Promise<Map<string, PromptAnswer>> {
    const given = await this.variables.openValues(organizationId, [{ owner: { kind: 'deployment', id: deploymentId }, source: { kind: 'project' } }], em);
    return new Map(given.map((v) => [variableKey(v.name), { value: v.value ?? '', sensitive: v.sensitive }]));
  }

  /** Checks a deployment request's answers against the release's prompts: 422 for an unknown name or a required one left out. */
  checkAnswers(values: OpenValue[], given: Record<string, unknown>): Map<string, PromptAnswer & { name: string }> {
    const prompted = new Map(values.filter((v) => v.prompt).map((v) => [variableKey(v.name), v]));
    const answers = new Map<string, PromptAnswer & { name: string }>();
    for (const [name, value] of Object.entries(given)) {
      const variable = prompted.get(variableKey(name));
      if (!variable)
        throw new DeploymentsException(
          DeploymentsErrorCode.UNKNOWN_VARIABLE,
          `"${name}" is not a prompted variable of this release; it asks for ${[...new Set([...prompted.values()].map((v) => `"${v.name}"`))].join(', ') || 'none'}`,
        );
      if (typeof value !== 'string') throw new DeploymentsException(DeploymentsErrorCode.UNKNOWN_VARIABLE, `the value given for "${name}" must be a string`);
      answers.set(variableKey(name), { name: variable.name, value, sensitive: variable.sensitive });
    }
    const missing = [...prompted.values()].filter((v) => v.prompt!.required && !answers.has(variableKey(v.name)));
    if (missing.length)
      throw new DeploymentsException(
        DeploymentsErrorCode.PROMPTED_VARIABLE_MISSING,
        `this release asks for ${missing.map((v) => `"${v.name}" (${v.prompt!.label})`).join(', ')}; give ${missing.length === 1 ? 'it' : 'them'} in variables: {"${missing[0].name}": "…"}`,
      );
    return answers;
  }

  async saveAnswers(em: EntityManager, organizationId: string, deploymentId: string, answers: (PromptAnswer & { name: string })[]): Promise<void> {
    await this.variables.savePrompted(em, organizationId, deploymentId, answers);
  }

  async targetAgents(em: EntityManager, organizationId: string, ids: string[]): Promise<Map<string, TargetAgent>> {
    return new Map((await this.agents.findByIdsOrNames(em, organizationId, ids)).map((a) => [a.id, a]));
  }
}
