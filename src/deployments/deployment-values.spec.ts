import { outputVariables } from './deployment-values';

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
