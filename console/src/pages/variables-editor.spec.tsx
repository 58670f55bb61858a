import '../../test/jsdom-text-encoding';
import { answer, type Call, fetchInto } from '../../test/jsdom-fetch';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { Variable } from '../api/types';
import { VariablesEditor } from './variables-editor';

const PATH = '/api/v1/projects/p1/variables';
const SECRET_ID = '0b9c2a52-0000-4000-8000-000000000002';
const HOST_ID = '0b9c2a52-0000-4000-8000-000000000001';
const DEV = { id: '0b9c2a52-0000-4000-8000-0000000000d1', name: 'Dev', description: '', guidedFailure: false, position: 0, createdAt: '' };
const PROD = { ...DEV, id: '0b9c2a52-0000-4000-8000-0000000000d2', name: 'Prod', position: 1 };

const saved: Variable[] = [
  { id: HOST_ID, name: 'DbHost', sensitive: false, value: 'db.dev.internal', description: '', scope: { environments: [{ id: DEV.id, name: 'Dev' }] }, prompt: null },
  { id: SECRET_ID, name: 'DbPassword', sensitive: true, hasValue: true, description: 'the app user', scope: {}, prompt: null },
];

/** The inputs' values on the page: a secret must never be one of them. */
const inputValues = () => [...document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')].map((el) => el.value);

describe('VariablesEditor', () => {
  const fetchMock = jest.fn<Promise<Response>, [Call]>();
  let put: (body: unknown) => Response;
  beforeEach(() => {
    fetchMock.mockReset();
    fetchInto(fetchMock);
    put = () => answer(200, saved);
    fetchMock.mockImplementation(async ({ method, path, body }) => {
      if (path === '/api/v1/environments') return answer(200, [DEV, PROD]);
      if (path.startsWith('/api/v1/agents')) return answer(200, { items: [{ id: 'a1', name: 'web-01', roles: ['web', 'cache'] }], counts: {} });
      if (path === PATH && method === 'PUT') return put(body);
      if (path === PATH) return answer(200, saved);
      throw new Error(`unexpected ${path}`);
    });
  });
  const puts = () => fetchMock.mock.calls.filter(([call]) => call.method === 'PUT').map(([call]) => call.body as unknown[]);

  it('shows a saved secret only as set, sends it back by id without a value, and a scoped value with its chips', async () => {
    render(<VariablesEditor path="/api/v1/projects/{id}/variables" id="p1" editable />);
    const password = await screen.findByRole('group', { name: 'Value 2' });
    expect(within(password).getByTestId('secret-set').textContent).toBe('•••• (set)');
    expect(within(password).queryByLabelText('Value')).toBeNull();
    const host = screen.getByRole('group', { name: 'Value 1' });
    expect(within(within(host).getByRole('group', { name: 'Environments' })).getByRole('list').textContent).toContain('Dev');

    fireEvent.click(screen.getByRole('button', { name: 'Save variables' }));
    await screen.findByText('Saved 2 values.');
    expect(puts()[0]).toEqual([
      { id: HOST_ID, name: 'DbHost', value: 'db.dev.internal', sensitive: false, description: '', scope: { environments: [DEV.id] }, prompt: null },
      { id: SECRET_ID, name: 'DbPassword', sensitive: true, description: 'the app user', prompt: null },
    ]);
  });

  it('takes a new secret in a password field, and once saved it is in no input any more', async () => {
    const typed = 'n3w-s3cret';
    put = () => answer(200, saved);
    render(<VariablesEditor path="/api/v1/projects/{id}/variables" id="p1" editable />);
    const password = await screen.findByRole('group', { name: 'Value 2' });
    fireEvent.click(within(password).getByRole('button', { name: 'Replace the value of DbPassword' }));
    const field = within(password).getByLabelText('New value');
    expect(field.getAttribute('type')).toBe('password');
    fireEvent.change(field, { target: { value: typed } });
    expect(inputValues()).toContain(typed);

    fireEvent.click(screen.getByRole('button', { name: 'Save variables' }));
    await screen.findByText('Saved 2 values.');
    expect(puts()[0][1]).toEqual({ id: SECRET_ID, name: 'DbPassword', value: typed, sensitive: true, description: 'the app user', prompt: null });
    expect(inputValues()).not.toContain(typed);
    expect(document.body.textContent).not.toContain(typed);
    expect(within(screen.getByRole('group', { name: 'Value 2' })).getByTestId('secret-set')).toBeTruthy();
  });

  it('adds a value scoped with chips picked from what exists and typed, and removes a chip', async () => {
    render(<VariablesEditor path="/api/v1/projects/{id}/variables" id="p1" editable />);
    await screen.findByRole('group', { name: 'Value 1' });
    fireEvent.click(screen.getByRole('button', { name: 'Add a value' }));
    const row = screen.getByRole('group', { name: 'Value 3' });
    fireEvent.change(within(row).getByLabelText('Name'), { target: { value: 'DbHost' } });
    fireEvent.change(within(row).getByLabelText('Value'), { target: { value: 'db.prod.internal' } });
    const envs = within(row).getByRole('group', { name: 'Environments' });
    await waitFor(() => expect(within(envs).getByRole('option', { name: 'Prod' })).toBeTruthy());
    fireEvent.change(within(envs).getByLabelText('environment to add'), { target: { value: PROD.id } });
    fireEvent.click(within(envs).getByRole('button', { name: 'Add environment' }));
    const roles = within(row).getByRole('group', { name: 'Roles' });
    fireEvent.change(within(roles).getByLabelText('role to add'), { target: { value: 'db' } });
    fireEvent.keyDown(within(roles).getByLabelText('role to add'), { key: 'Enter' });
    fireEvent.change(within(roles).getByLabelText('role to add'), { target: { value: 'web' } });
    fireEvent.click(within(roles).getByRole('button', { name: 'Add role' }));
    fireEvent.click(within(roles).getByRole('button', { name: 'Remove role db' }));

    fireEvent.click(screen.getByRole('button', { name: 'Save variables' }));
    await waitFor(() => expect(puts()).toHaveLength(1));
    expect(puts()[0][2]).toEqual({ name: 'DbHost', value: 'db.prod.internal', sensitive: false, description: '', scope: { environments: [PROD.id], roles: ['web'] }, prompt: null });
  });

  it('shows each problem the API names when it refuses the list, and keeps what was typed', async () => {
    const problems = [
      '"DbHost" has two values that could both apply (unscoped and unscoped); narrow or merge one of the scopes',
      'value 3 ("Token") is sensitive and has no value; give one (it is never shown again)',
    ];
    put = () => answer(422, { error: { code: 'INVALID_VARIABLES', message: problems.join('; '), details: { problems } } });
    render(<VariablesEditor path="/api/v1/projects/{id}/variables" id="p1" editable />);
    await screen.findByRole('group', { name: 'Value 1' });
    fireEvent.click(screen.getByRole('button', { name: 'Add a value' }));
    fireEvent.change(within(screen.getByRole('group', { name: 'Value 3' })).getByLabelText('Name'), { target: { value: 'Token' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save variables' }));
    const alert = await screen.findByRole('alert');
    expect([...alert.querySelectorAll('li')].map((li) => li.textContent)).toEqual(problems);
    expect((within(screen.getByRole('group', { name: 'Value 3' })).getByLabelText('Name') as HTMLInputElement).value).toBe('Token');
  });

  it('lets a viewer read the values without editing them', async () => {
    render(<VariablesEditor path="/api/v1/projects/{id}/variables" id="p1" editable={false} />);
    const host = await screen.findByRole('group', { name: 'Value 1' });
    expect(within(host).getByLabelText('Name').matches(':disabled')).toBe(true);
    expect(screen.queryByRole('button', { name: 'Save variables' })).toBeNull();
    expect(screen.queryByRole('button', { name: /Replace/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Remove/ })).toBeNull();
  });
});
