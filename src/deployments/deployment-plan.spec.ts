import { DEFAULT_POLICY } from '../../agent/src/policy';
import { advance, answer, type DeploymentModel, type Effect, planDeployment, type PlanInput, type StepModel, type TargetState } from './deployment-plan';
import type { Step } from './process.schema';

const script = (name: string, roles: string[], extra: Partial<Extract<Step, { kind: 'script' }>> = {}): Step => ({
  name,
  kind: 'script',
  environmentIds: [],
  condition: 'success',
  script: { syntax: 'bash', body: 'true' },
  targetRoles: roles,
  startWithPrevious: false,
  required: false,
  maxParallelism: null,
  maxErrors: null,
  timeoutSeconds: 60,
  ...extra,
});
const manual = (name: string): Step => ({ name, kind: 'manual', environmentIds: [], condition: 'success', instructions: 'check it', responsibleRole: 'admin' });

const prod = { id: 'prod', name: 'Prod' };
const agents = [
  { id: 'web-3', name: 'web-3', roles: ['web'], policy: null },
  { id: 'web-2', name: 'web-2', roles: ['web'], policy: null },
  { id: 'db-1', name: 'db-1', roles: ['db'], policy: null },
];
const input = (extra: Partial<PlanInput> = {}): PlanInput => ({ organizationId: 'org', environment: prod, agents, skipSteps: [], excludeAgentIds: new Set(), ...extra });
const done: Step[] = [script('migrate', ['db']), script('deploy', ['web'], { maxParallelism: 1 }), script('notify', ['web'], { condition: 'always' })];

describe('planning a deployment', () => {
  it('runs each script step on the environment’s agents with one of its roles, in name order', () => {
    const { steps, refusals } = planDeployment(done, input());
    expect(refusals).toEqual([]);
    expect(steps.map((s) => [s.name, s.block, s.state, s.targets.map((t) => t.agentName)])).toEqual([
      ['migrate', 0, 'pending', ['db-1']],
      ['deploy', 1, 'pending', ['web-2', 'web-3']],
      ['notify', 2, 'pending', ['web-2', 'web-3']],
    ]);
  });

  it('puts a step that starts with the previous one in its block', () => {
    const { steps } = planDeployment([script('a', ['web']), script('b', ['db'], { startWithPrevious: true }), manual('c')], input());
    expect(steps.map((s) => s.block)).toEqual([0, 0, 1]);
  });

  it('skips, saying why, a step asked to be skipped, one for other environments, and one with nobody to run it', () => {
    const { steps, refusals } = planDeployment([script('a', ['web']), script('b', ['web'], { environmentIds: ['dev'] }), script('c', ['cache'])], input({ skipSteps: ['a'] }));
    expect(refusals).toEqual([]);
    expect(steps.map((s) => [s.state, s.reason])).toEqual([
      ['skipped', 'skipped when the deployment was asked for'],
      ['skipped', 'this step runs only in some environments, not in Prod'],
      ['skipped', 'no agent with role cache in Prod'],
    ]);
  });

  it('refuses a required step with nobody to run it, naming the step and its roles', () => {
    const { refusals } = planDeployment([script('migrate', ['db'], { required: true })], input({ excludeAgentIds: new Set(['db-1']) }));
    expect(refusals).toEqual([
      {
        code: 'REQUIRED_STEP_HAS_NO_TARGETS',
        message: 'step "migrate" is required, but there is no agent with role db in Prod that is not excluded: approve one with that role there, or make the step optional',
      },
    ]);
  });

  it('refuses a target whose host does not allow deployments', () => {
    const policy = { ...DEFAULT_POLICY, allowedJobKinds: ['script' as const] };
    const { refusals } = planDeployment(done, input({ agents: [{ ...agents[2], policy }] }));
    expect(refusals.map((r) => r.code)).toEqual(['TARGET_POLICY_REFUSED']);
    expect(refusals[0].message).toContain('job kind "deployment" is not allowed by the default policy');
  });
});

function model(steps: Step[], extra: Partial<DeploymentModel> = {}): DeploymentModel {
  const planned = planDeployment(steps, input()).steps;
  return {
    steps: planned.map((p) => ({
      id: p.name,
      position: p.position,
      block: p.block,
      step: steps[p.position],
      state: p.state,
      reason: p.reason,
      ignored: false,
      targets: p.targets.map((t) => ({ id: `${p.name}@${t.agentId}`, agentId: t.agentId, state: t.state, reason: t.reason })),
    })),
    guidedFailure: false,
    cancelRequested: false,
    ...extra,
  };
}

const started = (effects: Effect[]) => effects.flatMap((e) => (e.type === 'start' ? e.targets.map((t) => t.id) : []));
const step = (m: DeploymentModel, name: string) => m.steps.find((s) => s.id === name)!;
function end(m: DeploymentModel, id: string, state: TargetState) {
  const [name] = id.split('@');
  step(m, name).targets.find((t) => t.id === id)!.state = state;
}

describe('running a deployment', () => {
  it('runs steps in order, never more jobs of a step at once than its maxParallelism, then succeeds', () => {
    const m = model(done);
    expect(started(advance(m))).toEqual(['migrate@db-1']);
    expect(advance(m)).toEqual([]);
    end(m, 'migrate@db-1', 'succeeded');
    expect(started(advance(m))).toEqual(['deploy@web-2']);
    end(m, 'deploy@web-2', 'succeeded');
    expect(started(advance(m))).toEqual(['deploy@web-3']);
    end(m, 'deploy@web-3', 'succeeded');
    expect(started(advance(m))).toEqual(['notify@web-2', 'notify@web-3']);
    end(m, 'notify@web-2', 'succeeded');
    end(m, 'notify@web-3', 'succeeded');
    expect(advance(m)).toEqual([{ type: 'finish', outcome: 'succeeded' }]);
  });

  it('after a failure starts no more of the step, skips later success steps, runs always steps, and fails', () => {
    const m = model([...done.slice(0, 2), script('smoke', ['web']), done[2]]);
    advance(m);
    end(m, 'migrate@db-1', 'succeeded');
    advance(m);
    end(m, 'deploy@web-2', 'failed');
    expect(started(advance(m))).toEqual(['notify@web-2', 'notify@web-3']);
    expect(step(m, 'deploy').targets.map((t) => [t.state, t.reason])).toEqual([
      ['failed', null],
      ['not_started', "not started: 1 of the step's jobs failed, more than its maxErrors (0)"],
    ]);
    expect(step(m, 'smoke')).toMatchObject({ state: 'skipped', reason: 'an earlier step failed' });
    end(m, 'notify@web-2', 'succeeded');
    end(m, 'notify@web-3', 'succeeded');
    expect(advance(m)).toEqual([{ type: 'finish', outcome: 'failed' }]);
  });

  it('tolerates maxErrors failures', () => {
    const m = model([script('deploy', ['web'], { maxParallelism: 1, maxErrors: 1 })]);
    advance(m);
    end(m, 'deploy@web-2', 'failed');
    expect(started(advance(m))).toEqual(['deploy@web-3']);
    end(m, 'deploy@web-3', 'succeeded');
    expect(advance(m)).toEqual([{ type: 'finish', outcome: 'succeeded' }]);
    expect(step(m, 'deploy').reason).toBe('1 failed, within its maxErrors (1)');
  });

  it('with guided failure pauses on a failure; retry runs the failed jobs again', () => {
    const m = model([script('deploy', ['web'])], { guidedFailure: true });
    advance(m);
    end(m, 'deploy@web-2', 'failed');
    end(m, 'deploy@web-3', 'succeeded');
    const [interrupt] = advance(m);
    expect(interrupt).toMatchObject({ type: 'interrupt', kind: 'guided-failure' });
    expect(step(m, 'deploy').state).toBe('waiting');
    answer(m, step(m, 'deploy'), 'retry', 'alice');
    expect(started(advance(m))).toEqual(['deploy@web-2']);
    end(m, 'deploy@web-2', 'succeeded');
    expect(advance(m)).toEqual([{ type: 'finish', outcome: 'succeeded' }]);
  });

  it('excluding the failing agent leaves it out of the rest of the deployment', () => {
    const m = model([script('deploy', ['web']), script('notify', ['web'])], { guidedFailure: true });
    advance(m);
    end(m, 'deploy@web-2', 'failed');
    end(m, 'deploy@web-3', 'succeeded');
    advance(m);
    expect(answer(m, step(m, 'deploy'), 'exclude', 'alice')).toEqual(['web-2']);
    expect(started(advance(m))).toEqual(['notify@web-3']);
    expect(step(m, 'deploy').state).toBe('succeeded');
  });

  it('ignoring a failure goes on as if the step had succeeded; abort fails it', () => {
    const ignored = model([script('deploy', ['web']), script('notify', ['db'])], { guidedFailure: true });
    advance(ignored);
    end(ignored, 'deploy@web-2', 'failed');
    end(ignored, 'deploy@web-3', 'failed');
    advance(ignored);
    answer(ignored, step(ignored, 'deploy'), 'ignore', 'alice');
    expect(started(advance(ignored))).toEqual(['notify@db-1']);

    const aborted = model([script('deploy', ['web']), script('notify', ['db'])], { guidedFailure: true });
    advance(aborted);
    end(aborted, 'deploy@web-2', 'failed');
    end(aborted, 'deploy@web-3', 'failed');
    advance(aborted);
    answer(aborted, step(aborted, 'deploy'), 'abort', 'alice');
    expect(advance(aborted)).toEqual([{ type: 'finish', outcome: 'failed' }]);
    expect(step(aborted, 'notify').state).toBe('skipped');
  });

  it('waits at a manual step until someone proceeds', () => {
    const m = model([manual('approve'), script('deploy', ['web'])]);
    expect(advance(m).map((e) => e.type)).toEqual(['interrupt']);
    expect(advance(m)).toEqual([]);
    answer(m, step(m, 'approve'), 'proceed', 'alice');
    expect(started(advance(m))).toEqual(['deploy@web-2', 'deploy@web-3']);
  });

  it('runs a failure step only after a failure', () => {
    const m = model([script('deploy', ['db']), script('rollback', ['db'], { condition: 'failure' })]);
    advance(m);
    end(m, 'deploy@db-1', 'succeeded');
    expect(advance(m)).toEqual([{ type: 'finish', outcome: 'succeeded' }]);
    expect(step(m, 'rollback').reason).toBe('runs only when an earlier step failed, and none did');
  });

  it('on cancel starts nothing more and ends once the active jobs have', () => {
    const m = model(done);
    advance(m);
    m.cancelRequested = true;
    expect(advance(m)).toEqual([]);
    expect(step(m, 'deploy')).toMatchObject({ state: 'cancelled' });
    end(m, 'migrate@db-1', 'cancelled');
    expect(advance(m)).toEqual([{ type: 'finish', outcome: 'cancelled' }]);
    expect(m.steps.every((s: StepModel) => s.state === 'cancelled')).toBe(true);
  });
});
