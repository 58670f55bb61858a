import '../../test/jsdom-text-encoding';
import { answer, type Call, fetchInto } from '../../test/jsdom-fetch';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { Agent } from '../api/types';
import { ApproveAgentDialog, parseLabels } from './agent-decision-dialogs';

const agent: Agent = {
  id: '7b0c1d0e-0000-4000-8000-000000000001',
  name: 'web-01',
  hostname: 'web-01.internal',
  os: 'Linux',
  arch: 'x64',
  agentVersion: '0.1.0',
  fingerprint: 'SHA256:abc',
  verificationCode: '4F7Q-K2MD',
  status: 'pending',
  enrolledAt: new Date().toISOString(),
  decidedBy: null,
  decidedById: null,
  decidedAt: null,
  decisionReason: null,
  conflictsWith: null,
  environments: [],
  roles: [],
  connection: { state: 'offline', transport: null, lastSeenAt: null, lastError: null },
  policy: null,
  health: null,
};

describe('ApproveAgentDialog', () => {
  const fetchMock = jest.fn<Promise<Response>, [Call]>();
  beforeEach(() => {
    fetchMock.mockReset();
    fetchInto(fetchMock);
  });

  const env = (name: string) => ({ id: name, name, description: '', guidedFailure: false, position: 0, createdAt: '' });
  const approvals = () => fetchMock.mock.calls.map(([call]) => call).filter((call) => call.path !== '/api/v1/environments');

  it('sends the typed code with the environments ticked and the roles, and shows the API’s refusal in the form', async () => {
    const onDone = jest.fn();
    let approve = () => answer(422, { error: { code: 'FINGERPRINT_MISMATCH', message: 'the verification code does not match agent "web-01"' } });
    fetchMock.mockImplementation(async ({ path }) => (path === '/api/v1/environments' ? answer(200, [env('production'), env('staging')]) : approve()));
    render(
      <MemoryRouter>
        <ApproveAgentDialog agent={agent} onClose={() => undefined} onDone={onDone} />
      </MemoryRouter>,
    );

    fireEvent.change(screen.getByLabelText('Verification code the agent printed'), { target: { value: 'AAAA-AAAA' } });
    fireEvent.click(await screen.findByRole('checkbox', { name: 'production' }));
    fireEvent.change(screen.getByLabelText('Roles'), { target: { value: 'web, db' } });
    fireEvent.click(screen.getByRole('button', { name: 'Approve' }));
    expect((await screen.findByRole('alert')).textContent).toBe('the verification code does not match agent "web-01"');
    expect(approvals()[0].body).toEqual({ verificationCode: 'AAAA-AAAA', environments: ['production'], roles: ['web', 'db'] });
    expect(onDone).not.toHaveBeenCalled();

    approve = () => answer(200, { ...agent, status: 'approved' });
    fireEvent.click(screen.getByRole('button', { name: 'It matches what the agent printed' }));
    expect(screen.queryByRole('alert')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Approve' }));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith(expect.objectContaining({ status: 'approved' })));
    expect(approvals()[1].path).toBe(`/api/v1/agents/${agent.id}/approve`);
    expect(approvals()[1].body).toMatchObject({ verificationCode: '4F7Q-K2MD' });
  });

  it('points to the Environments page when there are none', async () => {
    fetchMock.mockImplementation(async () => answer(200, []));
    render(
      <MemoryRouter>
        <ApproveAgentDialog agent={agent} onClose={() => undefined} onDone={() => undefined} />
      </MemoryRouter>,
    );
    expect((await screen.findByRole('link', { name: 'create one' })).getAttribute('href')).toBe('/environments');
  });
});

describe('parseLabels', () => {
  it('splits on commas and spaces, without blanks or repeats', () => {
    expect(parseLabels(' web, db  web,,prod-eu ')).toEqual(['web', 'db', 'prod-eu']);
    expect(parseLabels('')).toEqual([]);
  });
});
