import { DeploymentValues, outputVariables } from './deployment-values';

describe('outputs as later steps read them', () => {
  const out = (agent: string, name: string, value: string, sensitive = false) => ({ step: 'build', agent, name, value, sensitive });

  it('names each by step and agent, and by step alone when one agent set it', () => {
    const { values, unavailable } = outputVariables([out('web-1', 'Url', 'http://a'), out('web-1', 'Key', 'k', true)]);
    expect(values.map((v) => [v.name, v.value, v.sensitive])).toEqual([
      ['Corral.Output[build][web-1].Url', 'http://a', false],
      ['Corral.Output[build][web-1].Key', 'k', true],
      ['Corral.Output[build].Url', 'http://a', false],
      ['Corral.Output[build].Key', 'k', true],
    ]);
    expect(unavailable.size).toBe(0);
  });

  it('says which agents set one that several did, and how to name one', () => {
    const { values, unavailable } = outputVariables([out('web-1', 'Url', 'http://a'), out('web-2', 'url', 'http://b')]);
    expect(values.map((v) => v.name)).toEqual(['Corral.Output[build][web-1].Url', 'Corral.Output[build][web-2].url']);
    expect(unavailable.get('corral.output[build].url')).toBe('was set by 2 agents (web-1, web-2); name one: #{Corral.Output[build][web-1].Url}');
  });
});

describe("a manual step's instructions", () => {
  it('show the values the step sees, sensitive ones as ***, and leave names not defined as written', () => {
    const facts = { id: 'd1', taskId: 't1', project: 'Shop', release: '1.2.0', releaseNotes: '', environmentId: 'prod', environment: 'Prod', createdBy: 'ann' };
    const value = (name: string, v: string, sensitive = false) => ({ id: name, name, value: v, sensitive, scope: {}, source: { kind: 'project' as const }, prompt: null });
    const values = new DeploymentValues([value('Url', 'https://shop'), value('Token', 'tk-1', true)], new Map(), facts, []);
    const step = { kind: 'manual' as const, name: 'approve', environmentIds: [], condition: 'success' as const, instructions: '', responsibleRole: 'admin' as const };
    expect(values.shown(step, 'Check #{Url} for #{Corral.Release.Number} in #{Corral.Environment.Name}, token #{Token}, #{Nope}')).toBe(
      'Check https://shop for 1.2.0 in Prod, token ***, #{Nope}',
    );
  });
});
