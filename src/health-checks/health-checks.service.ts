import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AgentHealth } from '../agents/agent-health.view';
import { AgentsRepository } from '../agents/agents.repository';
import { AgentsService } from '../agents/agents.service';
import { AuditService } from '../audit/audit.service';
import { type Actor, actorLabel } from '../common/actor';
import { type HealthCheckResult, HealthCheckResultSchema } from '../protocol/messages';
import { policyRefusal } from '../protocol/policy-check';
import type { FinishedJob } from '../tasks/jobs.repository';
import { TaskHooks } from '../tasks/task-hooks';
import { TaskQueue } from '../tasks/task-queue.service';
import { taskView } from '../tasks/task.view';
import type { CreateHealthCheckDto } from './dto/create-health-check.dto';
import { HealthChecksErrorCode, HealthChecksException } from './health-checks.exception';

export const HEALTH_CHECK_KIND = 'health-check';
// A check gathers a few facts; one that takes longer than this says something about the host too.
const HEALTH_CHECK_TIMEOUT_SECONDS = 60;
// An agent whose clock is further off than this is warned about (signed requests fail past AGENT_CLOCK_SKEW_SECONDS).
const CLOCK_WARNING_MS = 5_000;

/**
 * Health checks, the second kind of work: the agent gathers facts about itself and its host and
 * judges them (no user code runs), and each agent keeps its last verdict, recorded in the same
 * transaction that ends its job, whatever ended it.
 */
@Injectable()
export class HealthChecksService implements OnModuleInit {
  constructor(
    private readonly queue: TaskQueue,
    private readonly hooks: TaskHooks,
    private readonly agents: AgentsRepository,
    private readonly agentsService: AgentsService,
    private readonly audit: AuditService,
  ) {}

  onModuleInit() {
    this.hooks.register(HEALTH_CHECK_KIND, { jobsEnded: (em, jobs) => this.record(em, jobs) });
  }

  /** Checks the agents named, or every approved agent whose reported local policy allows health checks. */
  async create(actor: Actor, body: CreateHealthCheckDto) {
    let agentIds = body.agentIds;
    const skipped: { agentId: string; name: string; reason: string }[] = [];
    if (!agentIds) {
      const approved = await this.agents.listForOrganization(actor.organizationId, 'approved');
      agentIds = [];
      for (const agent of approved) {
        const refusal = policyRefusal(agent.policy, { kind: HEALTH_CHECK_KIND, organizationId: actor.organizationId });
        if (refusal) skipped.push({ agentId: agent.id, name: agent.name, reason: `agent "${agent.name}": ${refusal}` });
        else agentIds.push(agent.id);
      }
      if (!agentIds.length)
        throw new HealthChecksException(
          HealthChecksErrorCode.NO_AGENTS,
          skipped.length ? `no approved agent allows health checks by its local policy (${skipped.length} forbid them)` : 'there is no approved agent to check; approve one first',
          skipped,
        );
    }
    const { task, jobs } = await this.queue.submit(
      actor.organizationId,
      {
        kind: HEALTH_CHECK_KIND,
        name: agentIds.length === 1 ? 'health check' : `health check of ${agentIds.length} agents`,
        createdBy: { userId: actor.userId, label: actorLabel(actor) },
        timeoutSeconds: HEALTH_CHECK_TIMEOUT_SECONDS,
        jobs: agentIds.map((agentId) => ({ agentId, payload: { kind: HEALTH_CHECK_KIND, payloadVersion: 1 } })),
      },
      this.audit.eventFor(actor, 'agents.health-checked', undefined, { agents: agentIds.length, skipped: skipped.length }),
    );
    return { ...taskView(task, jobs, null), skipped };
  }

  private async record(em: EntityManager, jobs: FinishedJob[]): Promise<void> {
    await this.agentsService.recordHealth(
      em,
      jobs.map((job) => ({ organizationId: job.organizationId, agentId: job.agentId, health: healthOf(job) })),
    );
  }
}

/** What an ended health-check job says of its agent: the agent's own verdict, or unhealthy when it gave none. */
export function healthOf(job: FinishedJob): AgentHealth {
  const checkedAt = new Date(job.finishedAt);
  const parsed = job.result && job.state === 'succeeded' ? HealthCheckResultSchema.safeParse(job.result) : null;
  if (!parsed?.success) {
    const why = job.state === 'unknown' ? 'the agent stopped answering during the check' : `the check ${job.state.replace('_', ' ')}`;
    return { verdict: 'unhealthy', problems: [`${why}${job.message ? `: ${job.message}` : ''}`], checkedAt: checkedAt.toISOString(), taskId: job.taskId, clockOffsetMs: null, facts: null };
  }
  const result: HealthCheckResult = parsed.data;
  const clockOffsetMs = result.facts.checkedAt - checkedAt.getTime();
  const problems = [...result.problems];
  let verdict = result.verdict;
  if (Math.abs(clockOffsetMs) > CLOCK_WARNING_MS) {
    problems.push(`the agent's clock is ${(Math.abs(clockOffsetMs) / 1000).toFixed(1)} s ${clockOffsetMs > 0 ? 'ahead of' : 'behind'} the control plane's; sync it (NTP)`);
    if (verdict === 'healthy') verdict = 'warning';
  }
  return { verdict, problems, checkedAt: checkedAt.toISOString(), taskId: job.taskId, clockOffsetMs, facts: result.facts };
}
