import type { Variable } from '../api/types';
import { answersOf, blankVariable, draftOf, inputOf, keepingSecret, previewAnswersOf, promptsOf, replacingSecret, withSensitive } from './variable-draft';

const ID = '0b9c2a52-0000-4000-8000-000000000001';
const DEV = { id: '0b9c2a52-0000-4000-8000-0000000000d1', name: 'Dev' };
const WEB01 = { id: '0b9c2a52-0000-4000-8000-0000000000a1', name: 'web-01' };

const plain = (over: Partial<Variable> = {}): Variable => ({ id: ID, name: 'DbHost', sensitive: false, value: 'db.dev', description: '', scope: {}, prompt: null, ...over }) as Variable;
const secret = (over: Partial<Variable> = {}): Variable =>
  ({ id: ID, name: 'DbPassword', sensitive: true, hasValue: true, description: 'the app user', scope: {}, prompt: null, ...over }) as Variable;

describe('a value read and sent back', () => {
  it('keeps a plain value, its scope by ids and names as the API gave them', () => {
    const read = plain({ scope: { environments: [DEV], roles: ['web'], agents: [WEB01], steps: ['Migrate'] }, description: 'where the db is' });
    const draft = draftOf(read);
    expect(draft.scope.environments).toEqual([DEV]);
    expect(inputOf(draft)).toEqual({
      id: ID,
      name: 'DbHost',
      value: 'db.dev',
      sensitive: false,
      description: 'where the db is',
      scope: { environments: [DEV.id], agents: [WEB01.id], roles: ['web'], steps: ['Migrate'] },
      prompt: null,
    });
  });

  it('sends a saved secret with its id and no value, so the server keeps it', () => {
    const draft = draftOf(secret());
    expect(draft.value).toBe('');
    expect(draft.keepsSaved).toBe(true);
    const input = inputOf(draft);
    expect(input).toEqual({ id: ID, name: 'DbPassword', sensitive: true, description: 'the app user', prompt: null });
    expect('value' in input).toBe(false);
  });

  it('sends the new secret once it is replaced, and none again once the replacement is given up', () => {
    const replacing = { ...replacingSecret(draftOf(secret())), value: 'n3w' };
    expect(inputOf(replacing)).toMatchObject({ id: ID, value: 'n3w', sensitive: true });
    const kept = keepingSecret(replacing);
    expect(kept.value).toBe('');
    expect('value' in inputOf(kept)).toBe(false);
  });

  it('needs a new value when a secret stops being sensitive: an empty one is not sent, so the server asks for it', () => {
    const plainAgain = withSensitive(draftOf(secret()), false);
    expect(plainAgain.keepsSaved).toBe(false);
    expect('value' in inputOf(plainAgain)).toBe(false);
    expect(inputOf({ ...plainAgain, value: 'now public' })).toMatchObject({ value: 'now public', sensitive: false });
    // Back to sensitive without typing anything: the saved secret is kept again.
    expect(withSensitive(plainAgain, true).keepsSaved).toBe(true);
  });

  it('leaves the value out of a new sensitive value with nothing typed (the server says it needs one), but sends an empty plain one', () => {
    const fresh = { ...blankVariable(), name: 'Token' };
    expect(inputOf(fresh)).toMatchObject({ value: '', sensitive: false });
    expect('value' in inputOf(withSensitive(fresh, true))).toBe(false);
  });

  it('sends a prompt with its label and whether it is required; an empty default is no default', () => {
    const draft = { ...blankVariable(), name: 'Ticket', prompted: true, promptLabel: '  Change ticket ', promptRequired: true };
    const input = inputOf(draft);
    expect(input.prompt).toEqual({ label: 'Change ticket', required: true });
    expect('value' in input).toBe(false);
    expect(inputOf({ ...draft, promptLabel: '' }).prompt).toEqual({ required: true });
    expect(draftOf(plain({ value: null, prompt: { label: 'Change ticket', required: false } }))).toMatchObject({ value: '', prompted: true, promptLabel: 'Change ticket' });
  });

  it('shows an environment that is gone by its id', () => {
    expect(draftOf(plain({ scope: { environments: [{ id: DEV.id, name: null }] } })).scope.environments).toEqual([{ id: DEV.id, name: DEV.id }]);
  });
});

describe('prompts of a release', () => {
  const prompted = (name: string, over: Partial<Variable> & { required?: boolean } = {}) =>
    plain({ name, value: null, prompt: { label: `${name} label`, required: over.required ?? false }, ...over });

  it('asks once per name (names are case-insensitive), required when any value is, a password when any is sensitive', () => {
    const prompts = promptsOf([
      plain({ name: 'DbHost' }),
      prompted('Ticket', { required: true }),
      prompted('ticket', { scope: { environments: [DEV] } }),
      secret({ name: 'Token', prompt: { label: 'API token', required: false } }),
    ]);
    expect(prompts).toEqual([
      { name: 'Ticket', label: 'Ticket label', required: true, sensitive: false, initial: '', hasDefault: false },
      { name: 'Token', label: 'API token', required: false, sensitive: true, initial: '', hasDefault: true },
    ]);
  });

  it('starts a field with its default only when it is one plain value', () => {
    expect(promptsOf([prompted('Region', { value: 'eu-west' })])[0]).toMatchObject({ initial: 'eu-west', hasDefault: true });
    expect(promptsOf([prompted('Region', { value: 'eu-west' }), prompted('Region', { value: 'us-east', scope: { environments: [DEV] } })])[0].initial).toBe('');
  });

  it('answers what was typed (or the default kept in the field), leaving empty fields out; the preview counts required ones as given', () => {
    const prompts = promptsOf([prompted('Ticket', { required: true }), prompted('Region', { value: 'eu-west' }), prompted('Note')]);
    expect(answersOf(prompts, {})).toEqual({ Region: 'eu-west' });
    expect(answersOf(prompts, { ticket: 'CHG-42', region: '' })).toEqual({ Ticket: 'CHG-42' });
    expect(previewAnswersOf(prompts, {})).toEqual({ Region: 'eu-west', Ticket: '' });
    expect(previewAnswersOf(prompts, { ticket: 'CHG-42' })).toEqual({ Region: 'eu-west', Ticket: 'CHG-42' });
  });
});
