import { fireEvent, render, screen, waitFor } from '@testing-library/react';
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
  decidedAt: null,
  decisionReason: null,
  conflictsWith: null,
  environments: [],
  roles: [],
  connection: { state: 'offline', transport: null, lastSeenAt: null, lastError: null },
  policy: null,
  health: null,
};

function answer(status: number, body: unknown) {
  return { ok: status < 300, status, statusText: '', json: async () => body };
}

describe('ApproveAgentDialog', () => {
  const fetchMock = jest.fn();
  beforeEach(() => {
    fetchMock.mockReset();
    globalThis.fetch = fetchMock as unknown as typeof fetch;
  });

  it('sends the typed code with environments and roles, and shows the API’s refusal in the form', async () => {
    const onDone = jest.fn();
    fetchMock.mockResolvedValueOnce(answer(422, { error: { code: 'FINGERPRINT_MISMATCH', message: 'the verification code does not match agent "web-01"' } }));
    render(<ApproveAgentDialog agent={agent} onClose={() => undefined} onDone={onDone} />);

    fireEvent.change(screen.getByLabelText('Verification code the agent printed'), { target: { value: 'AAAA-AAAA' } });
    fireEvent.change(screen.getByLabelText('Environments'), { target: { value: 'production, staging' } });
    fireEvent.click(screen.getByRole('button', { name: 'Approve' }));
    expect((await screen.findByRole('alert')).textContent).toBe('the verification code does not match agent "web-01"');
    expect(JSON.parse(fetchMock.mock.calls[0][1].body)).toEqual({ verificationCode: 'AAAA-AAAA', environments: ['production', 'staging'], roles: [] });
    expect(onDone).not.toHaveBeenCalled();

    fetchMock.mockResolvedValueOnce(answer(200, { ...agent, status: 'approved' }));
    fireEvent.click(screen.getByRole('button', { name: 'It matches what the agent printed' }));
    expect(screen.queryByRole('alert')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Approve' }));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith(expect.objectContaining({ status: 'approved' })));
    expect(fetchMock.mock.calls[1][0]).toBe(`/api/v1/agents/${agent.id}/approve`);
    expect(JSON.parse(fetchMock.mock.calls[1][1].body).verificationCode).toBe('4F7Q-K2MD');
  });
});

describe('parseLabels', () => {
  it('splits on commas and spaces, without blanks or repeats', () => {
    expect(parseLabels(' web, db  web,,prod-eu ')).toEqual(['web', 'db', 'prod-eu']);
    expect(parseLabels('')).toEqual([]);
  });
});
