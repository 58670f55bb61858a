import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AgentsRepository } from '../agents/agents.repository';
import { variableKey } from '../protocol/substitution';
import { JobOutputs } from '../tasks/job-outputs';
import type { PromptAnswer } from '../variables/step-variables';
import { type OpenValue, VariablesService } from '../variables/variables.service';
import { DeploymentsErrorCode, DeploymentsException } from './deployments.exception';
import { DeploymentsRepository } from './deployments.repository';
import type { StepOutput, TargetAgent } from './deployment-values';

/** Loads the variables deployments use: a release's snapshot, the answers to its prompts, the agents' roles. */
@Injectable()
export class DeploymentVariables {
  constructor(
    private readonly variables: VariablesService,
    private readonly agents: AgentsRepository,
    private readonly deployments: DeploymentsRepository,
    private readonly jobOutputs: JobOutputs,
  ) {}

  async release(em: EntityManager, organizationId: string, releaseId: string): Promise<OpenValue[]> {
    return this.variables.openValues(organizationId, [{ owner: { kind: 'release', id: releaseId }, source: { kind: 'project' } }], em);
  }

  /** The answers a deployment was given, as stored when it was made. */
  async answers(em: EntityManager, organizationId: string, deploymentId: string): Promise<Map<string, PromptAnswer>> {
    const given = await this.variables.openValues(organizationId, [{ owner: { kind: 'deployment', id: deploymentId }, source: { kind: 'project' } }], em);
    return new Map(given.map((v) => [variableKey(v.name), { value: v.value ?? '', sensitive: v.sensitive }]));
  }

  /**
   * Checks a deployment request's answers against the release's prompts: 422 for an unknown name,
   * and for a required one left out unless `missing` collects those (a preview shows them).
   */
  checkAnswers(values: OpenValue[], given: Record<string, unknown>, missing?: string[]): Map<string, PromptAnswer & { name: string }> {
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
    const unanswered = [...prompted.values()].filter((v) => v.prompt!.required && !answers.has(variableKey(v.name)));
    if (unanswered.length) {
      const message = `this release asks for ${unanswered.map((v) => `"${v.name}" (${v.prompt!.label})`).join(', ')}; give ${unanswered.length === 1 ? 'it' : 'them'} in variables: {"${unanswered[0].name}": "…"}`;
      if (!missing) throw new DeploymentsException(DeploymentsErrorCode.PROMPTED_VARIABLE_MISSING, message);
      missing.push(message);
    }
    return answers;
  }

  async saveAnswers(em: EntityManager, organizationId: string, deploymentId: string, answers: (PromptAnswer & { name: string })[]): Promise<void> {
    await this.variables.savePrompted(em, organizationId, deploymentId, answers);
  }

  /** What the jobs of the deployment's steps set, by step and agent (the newest attempt of each target). */
  async outputs(em: EntityManager, organizationId: string, deploymentId: string): Promise<StepOutput[]> {
    const [steps, targets] = await Promise.all([this.deployments.steps(em, organizationId, [deploymentId]), this.deployments.targets(em, organizationId, [deploymentId])]);
    const stepName = new Map(steps.map((s) => [s.id, s.name]));
    const targetOf = new Map(targets.flatMap((t) => (t.jobId ? [[t.jobId, t] as const] : [])));
    const outputs = await this.jobOutputs.forJobs(organizationId, [...targetOf.keys()], em);
    return outputs.map((o) => {
      const t = targetOf.get(o.jobId)!;
      return { step: stepName.get(t.stepId) ?? '', agent: t.agentName, name: o.name, value: o.value, sensitive: o.sensitive };
    });
  }

  async targetAgents(em: EntityManager, organizationId: string, ids: string[]): Promise<Map<string, TargetAgent>> {
    return new Map((await this.agents.findByIdsOrNames(em, organizationId, ids)).map((a) => [a.id, a]));
  }
}
