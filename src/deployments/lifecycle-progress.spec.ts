import { autoDeployOnSuccess, lifecycleProgress, type Phase, refusal } from './lifecycle-progress';

const env = (name: string) => ({ id: name.toLowerCase(), name });
const [dev, test, qa, prod, dr] = ['Dev', 'Test', 'QA', 'Prod', 'DR'].map(env);
const environments = [dev, test, qa, prod, dr];
const phase = (name: string, ids: string[], extra: Partial<Phase> = {}): Phase => ({ name, environmentIds: ids, minSuccessful: null, optional: false, autoDeployEnvironmentIds: [], ...extra });

describe('lifecycle progress', () => {
  it('without phases is one phase per environment, in order: each opens after the one before succeeds', () => {
    expect(lifecycleProgress([], environments, new Set()).allowed).toEqual(['dev']);
    expect(lifecycleProgress([], environments, new Set(['dev'])).allowed).toEqual(['dev', 'test']);
    const progress = lifecycleProgress([], environments, new Set(['dev', 'test']));
    expect(progress.allowed).toEqual(['dev', 'test', 'qa']);
    expect(progress.next).toEqual(['qa']);
    expect(refusal(progress, 'prod', 'Default')).toBe('deploy this release to QA first: Prod is in phase "Prod", which opens once phase "QA" is complete');
  });

  const phases = [phase('Build', ['dev']), phase('Testing', ['test', 'qa'], { minSuccessful: 1 }), phase('Production', ['prod', 'dr'])];

  it('opens a phase once minSuccessful of the phase before succeeded', () => {
    const one = lifecycleProgress(phases, environments, new Set(['dev']));
    expect(one.allowed).toEqual(['dev', 'test', 'qa']);
    expect(refusal(one, 'prod', 'Standard')).toBe('deploy this release to 1 more of Test, QA first: Prod is in phase "Production", which opens once phase "Testing" is complete');
    expect(lifecycleProgress(phases, environments, new Set(['dev', 'qa'])).allowed).toEqual(['dev', 'test', 'qa', 'prod', 'dr']);
  });

  it('never lets an optional phase block, and still allows deploying to it', () => {
    const withOptional = [phase('Build', ['dev']), phase('Testing', ['test'], { optional: true }), phase('Production', ['prod'])];
    expect(lifecycleProgress(withOptional, environments, new Set(['dev'])).allowed).toEqual(['dev', 'test', 'prod']);
    expect(lifecycleProgress(withOptional, environments, new Set()).allowed).toEqual(['dev']);
  });

  it('refuses an environment that is in no phase, saying so', () => {
    const progress = lifecycleProgress([phase('Only', ['dev'])], environments, new Set());
    expect(refusal(progress, 'prod', 'Small')).toBe('the lifecycle "Small" has no phase with this environment; add it to a phase, or use another lifecycle');
    expect(refusal(progress, 'dev', 'Small')).toBeNull();
  });

  it('auto-deploys to the environments of a phase when a success opens it, once', () => {
    const auto = [phase('Build', ['dev']), phase('Testing', ['test', 'qa'], { autoDeployEnvironmentIds: ['test'] }), phase('Production', ['prod'])];
    expect(autoDeployOnSuccess(auto, environments, new Set(), 'dev')).toEqual(['test']);
    // Testing was open already: another success in Dev queues nothing more.
    expect(autoDeployOnSuccess(auto, environments, new Set(['dev']), 'dev')).toEqual([]);
    expect(autoDeployOnSuccess(auto, environments, new Set(['dev', 'test']), 'qa')).toEqual([]);
  });

  it('ignores environments that no longer exist', () => {
    const progress = lifecycleProgress([phase('Build', ['dev', 'gone'])], environments, new Set(['dev']));
    expect(progress.phases[0]).toMatchObject({ complete: true, needed: 1 });
  });
});
