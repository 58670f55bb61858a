import { stepVariables } from './step-variables';
import type { OpenValue } from './variables.service';

const value = (name: string, v: string | null, more: Partial<OpenValue> = {}): OpenValue => ({
  id: name,
  name,
  value: v,
  sensitive: false,
  scope: {},
  source: { kind: 'project' },
  prompt: null,
  ...more,
});
const seen = (values: OpenValue[], answers = new Map()) =>
  stepVariables(
    values,
    { environmentId: 'dev', agentId: 'web-1', roles: ['web'], step: 'deploy' },
    [{ name: 'Corral.Step.Name', value: 'deploy', sensitive: false, reason: 'system variable' }],
    answers,
  );
const byName = (s: ReturnType<typeof seen>) => Object.fromEntries(s.variables.map((v) => [v.name, v]));

describe('what a step sees', () => {
  it('expands values that use others, and a value using a sensitive one is sensitive too', () => {
    const s = byName(seen([value('Host', 'db'), value('Password', 'pw', { sensitive: true }), value('Conn', 'h=#{Host};p=#{password}'), value('Outer', '[#{Conn}]')]));
    expect(s.Conn).toMatchObject({ value: 'h=db;p=pw', sensitive: true });
    expect(s.Outer).toMatchObject({ value: '[h=db;p=pw]', sensitive: true });
    expect(s.Host.sensitive).toBe(false);
  });

  it('gives system variables, and values may use them', () => {
    const s = byName(seen([value('Where', 'step #{Corral.Step.Name}')]));
    expect(s.Where.value).toBe('step deploy');
    expect(s['Corral.Step.Name']).toMatchObject({ value: 'deploy', reason: 'system variable' });
  });

  it('puts the answer to a prompt in place of its default; a prompt with neither is undefined', () => {
    const prompt = { label: 'Ticket', required: false };
    const answered = seen([value('Ticket', 'none', { prompt })], new Map([['ticket', { value: 'CHG-1', sensitive: false }]]));
    expect(byName(answered).Ticket.value).toBe('CHG-1');
    expect(byName(seen([value('Ticket', 'none', { prompt })])).Ticket.value).toBe('none');
    expect(seen([value('Ticket', null, { prompt })]).problems('#{Ticket}')).toEqual(['#{Ticket} is not defined here']);
  });

  it('says why a text cannot run: an undefined name, a tie, a cycle', () => {
    const s = seen([value('A', '#{B}'), value('B', '#{A}'), value('R', '1', { scope: { roles: ['web'] } }), value('R', '2', { id: 'r2', scope: { roles: ['web'] } })]);
    expect(s.problems('#{Nope}')).toEqual(['#{Nope} is not defined here']);
    expect(s.problems('#{R}')).toEqual(['#{R} has 2 values that apply equally here; narrow their scopes']);
    expect(s.problems('#{A}')[0]).toMatch(/cycle/);
    expect(s.problems('#{Corral.Step.Name} ##{Nope}')).toEqual([]);
  });
});
