import '../../test/jsdom-text-encoding';
import { answer, type Call, fetchInto } from '../../test/jsdom-fetch';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { Agent, AgentHealth, HealthFacts } from '../api/types';
import { AgentHealthSection, formatClockOffset, formatFreeSpace, formatUptime, summarizePolicy } from './agent-health-section';

const GIB = 1024 ** 3;
const TASK_ID = '5d0f6a4e-0000-4000-8000-000000000009';

const facts: HealthFacts = {
  agentVersion: '0.4.2',
  hostname: 'web-01.internal',
  os: 'linux',
  arch: 'x64',
  uptimeSeconds: 3 * 86_400 + 4 * 3600 + 25 * 60,
  checkedAt: Date.now(),
  stateDir: { path: '/var/lib/corral-agent', freeBytes: 2 * GIB, totalBytes: 50 * GIB, writable: true },
  interpreters: {
    bash: { path: '/usr/bin/bash', version: '5.2.21' },
    sh: { path: '/bin/sh', version: null },
    node: { path: '/usr/bin/node', version: 'v22.11.0' },
    pwsh: null,
  },
  policy: { source: '/etc/corral/agent-policy.json', allowedJobKinds: ['script', 'health-check'], allowScripts: true, runAs: 'deploy', allowedOrganizations: null, frozen: false },
};

const warning: AgentHealth = {
  verdict: 'warning',
  problems: ['state directory /var/lib/corral-agent has 4.0% free (2.00 GiB)', 'pwsh is not installed'],
  checkedAt: new Date(Date.now() - 2 * 3600_000).toISOString(),
  taskId: TASK_ID,
  clockOffsetMs: 1500,
  facts,
};

const failed: AgentHealth = {
  verdict: 'unhealthy',
  problems: ['the agent did not answer: it is offline'],
  checkedAt: new Date().toISOString(),
  taskId: TASK_ID,
  clockOffsetMs: null,
  facts: null,
};

const agent: Agent = {
  id: '7b0c1d0e-0000-4000-8000-000000000001',
  name: 'web-01',
  hostname: 'web-01.internal',
  os: 'linux',
  arch: 'x64',
  agentVersion: '0.4.2',
  fingerprint: 'SHA256:abc',
  verificationCode: '4F7Q-K2MD',
  status: 'approved',
  enrolledAt: new Date().toISOString(),
  decidedBy: 'admin@example.com',
  decidedById: null,
  decidedAt: new Date().toISOString(),
  decisionReason: null,
  conflictsWith: null,
  environments: [],
  roles: [],
  connection: { state: 'online', transport: 'websocket', lastSeenAt: new Date().toISOString(), lastError: null },
  policy: facts.policy,
  health: null,
};

function show(health: AgentHealth | null, canCheck = false) {
  return render(
    <MemoryRouter>
      <AgentHealthSection agent={{ ...agent, health }} canCheck={canCheck} />
    </MemoryRouter>,
  );
}

/** The definition list as term → description text. */
function factsOf(list: HTMLElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dt of list.querySelectorAll('dt')) out[dt.textContent ?? ''] = (dt.nextElementSibling as HTMLElement).textContent ?? '';
  return out;
}

describe('AgentHealthSection', () => {
  const fetchMock = jest.fn<Promise<Response>, [Call]>();
  beforeEach(() => {
    fetchMock.mockReset();
    fetchInto(fetchMock);
  });

  it('shows a warning with its problems, when it was found, and the facts in words', () => {
    show(warning);
    const section = screen.getByRole('region', { name: 'Health' });
    expect(within(section).getByText('warning').getAttribute('data-status')).toBe('warning');
    expect(section.textContent).toContain('checked 2 hours ago');
    expect(within(section).getByRole('link', { name: 'task' }).getAttribute('href')).toBe(`/tasks/${TASK_ID}`);
    expect(
      within(screen.getByRole('list', { name: 'Problems found' }))
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(warning.problems);

    expect(factsOf(screen.getByTestId('health-facts'))).toEqual({
      'Agent version': '0.4.2',
      Hostname: 'web-01.internal',
      OS: 'linux x64',
      Uptime: '3 days, 4 hours',
      'State directory': '/var/lib/corral-agent2.00 GiB free of 50.0 GiB (4.0% free)',
      Writable: 'yes',
      'Clock offset': '1.5 s ahead of the control plane',
      Interpreters: 'bash 5.2.21 /usr/bin/bashsh version unknown /bin/shnode v22.11.0 /usr/bin/nodepwsh not found',
      'Local policy': 'job kinds script, health-check; scripts allowed; runs as deploy; organisations any (/etc/corral/agent-policy.json)',
    });
    expect(screen.queryByRole('button', { name: 'Run health check' })).toBeNull();
  });

  it('says why a failed check has no facts instead of showing an empty list', () => {
    show(failed);
    const section = screen.getByRole('region', { name: 'Health' });
    expect(within(section).getByText('unhealthy').className).toContain('badge-danger');
    expect(within(section).getByRole('listitem').textContent).toBe('the agent did not answer: it is offline');
    expect(screen.queryByTestId('health-facts')).toBeNull();
    expect(section.textContent).toContain('ended without an answer from the agent');
  });

  it('says when the agent was never checked', () => {
    show(null);
    expect(screen.getByRole('region', { name: 'Health' }).textContent).toContain('Never checked.');
  });

  it('lets an admin check this agent and links to the task, or shows why the server refused', async () => {
    fetchMock.mockResolvedValueOnce(
      answer(422, {
        error: {
          code: 'TARGETS_REFUSED',
          message: 'agent "web-01": its local policy does not allow health checks',
          details: [{ agentId: agent.id, name: 'web-01', reason: 'its local policy does not allow health checks' }],
        },
      }),
    );
    show(warning, true);
    fireEvent.click(screen.getByRole('button', { name: 'Run health check' }));
    expect((await screen.findByRole('alert')).textContent).toBe('agent "web-01": its local policy does not allow health checks');
    expect(fetchMock.mock.calls[0][0]).toEqual({ method: 'POST', path: '/api/v1/agents/health-checks', body: { agentIds: [agent.id] } });

    const started = '9e1d1f00-0000-4000-8000-000000000002';
    fetchMock.mockResolvedValueOnce(answer(201, { id: started, name: 'health check', kind: 'health-check', state: 'queued', script: null, jobs: [], skipped: [] }));
    fireEvent.click(screen.getByRole('button', { name: 'Run health check' }));
    expect((await screen.findByRole('link', { name: 'follow the task' })).getAttribute('href')).toBe(`/tasks/${started}`);
    expect(screen.queryByRole('alert')).toBeNull();
  });
});

describe('health formatting', () => {
  it('says uptime in its two largest units', () => {
    expect([formatUptime(30), formatUptime(60), formatUptime(3 * 3600 + 60), formatUptime(86_400), formatUptime(2 * 86_400 + 59)]).toEqual([
      'less than a minute',
      '1 minute',
      '3 hours, 1 minute',
      '1 day',
      '2 days',
    ]);
  });

  it('gives free space in GiB with the share free', () => {
    expect(formatFreeSpace(0.5 * GIB, 0)).toBe('0.50 GiB free of 0.00 GiB');
    expect(formatFreeSpace(37.5 * GIB, 100 * GIB)).toBe('37.5 GiB free of 100.0 GiB (37.5% free)');
  });

  it('says which way the clock is off', () => {
    expect([formatClockOffset(null), formatClockOffset(0), formatClockOffset(-250), formatClockOffset(90_000)]).toEqual([
      'not measured',
      'in step with the control plane',
      '250 ms behind the control plane',
      '1.5 min ahead of the control plane',
    ]);
  });

  it('says first when a policy runs nothing', () => {
    expect(summarizePolicy({ ...facts.policy, frozen: true, allowedJobKinds: [], allowedOrganizations: ['acme'] })).toBe(
      'frozen: runs nothing; job kinds none; scripts allowed; runs as deploy; organisations acme',
    );
  });
});
