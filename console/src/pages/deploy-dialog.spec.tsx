import '../../test/jsdom-text-encoding';
import { answer, type Call, fetchInto } from '../../test/jsdom-fetch';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { Release, Variable } from '../api/types';
import { DeployDialog } from './deploy-dialog';

const release: Release = { id: 'r1', projectId: 'p1', version: '1.0.0', notes: '', processVersion: 1, createdBy: 'a@example.test', createdAt: new Date().toISOString() };
const env = { id: 'e1', name: 'Prod', description: '', guidedFailure: false, position: 0, createdAt: '' };
const variables: Variable[] = [
  { id: 'v1', name: 'Ticket', sensitive: false, value: null, description: '', scope: {}, prompt: { label: 'Change ticket', required: true } },
  { id: 'v2', name: 'Token', sensitive: true, hasValue: false, description: '', scope: {}, prompt: { label: 'API token', required: false } },
  { id: 'v3', name: 'DbHost', sensitive: false, value: 'db', description: '', scope: {}, prompt: null },
];
const preview = { environment: { id: 'e1', name: 'Prod', guidedFailure: false }, refusals: [], steps: [{ name: 'deploy', kind: 'script', state: 'pending', reason: null, targets: [] }] };

describe('DeployDialog', () => {
  const fetchMock = jest.fn<Promise<Response>, [Call]>();
  let deploy = () => answer(422, { error: { code: 'PROMPTED_VARIABLE_MISSING', message: 'this release asks for "Ticket" (Change ticket); give it in variables: {"Ticket": "…"}' } });
  beforeEach(() => {
    fetchMock.mockReset();
    fetchInto(fetchMock);
    fetchMock.mockImplementation(async ({ path }) => {
      if (path === '/api/v1/releases/r1') return answer(200, { ...release, variables, deployments: [], progress: { allowed: [], next: [] } });
      if (path === '/api/v1/releases/r1/deployments/preview') return answer(200, preview);
      if (path === '/api/v1/releases/r1/deployments') return deploy();
      throw new Error(`unexpected ${path}`);
    });
  });
  const bodiesOf = (path: string) => fetchMock.mock.calls.filter(([call]) => call.path === path).map(([call]) => call.body);

  it('asks for the prompted values, a sensitive one in a password field, and sends them with the deployment; a refusal is shown', async () => {
    render(
      <MemoryRouter>
        <DeployDialog release={release} environments={[env]} environment="Prod" onClose={() => undefined} />
      </MemoryRouter>,
    );
    const ticket = await screen.findByLabelText(/Change ticket/);
    expect(ticket.getAttribute('aria-required')).toBe('true');
    expect(screen.getByLabelText('API token').getAttribute('type')).toBe('password');
    expect(screen.queryByLabelText(/DbHost/)).toBeNull();
    // The preview counts the required value as given: it must be, to deploy at all.
    await waitFor(() => expect(bodiesOf('/api/v1/releases/r1/deployments/preview')[0]).toEqual({ environment: 'Prod', skipSteps: [], excludeAgents: [], variables: { Ticket: '' } }));

    const deployButton = await screen.findByRole('button', { name: 'Deploy 1.0.0 to Prod' });
    fireEvent.click(deployButton);
    expect((await screen.findByRole('alert')).textContent).toContain('this release asks for "Ticket"');
    expect(bodiesOf('/api/v1/releases/r1/deployments')[0]).toEqual({ environment: 'Prod', skipSteps: [], excludeAgents: [] });

    deploy = () => answer(201, { id: 'd1' });
    fireEvent.change(ticket, { target: { value: 'CHG-42' } });
    fireEvent.change(screen.getByLabelText('API token'), { target: { value: 's3cret' } });
    fireEvent.click(deployButton);
    await waitFor(() => expect(bodiesOf('/api/v1/releases/r1/deployments')).toHaveLength(2));
    expect(bodiesOf('/api/v1/releases/r1/deployments')[1]).toEqual({ environment: 'Prod', skipSteps: [], excludeAgents: [], variables: { Ticket: 'CHG-42', Token: 's3cret' } });
  });
});
