import { render, screen } from '@testing-library/react';
import type { AgentHealth } from '../api/types';
import { HealthBadge } from './health-badge';

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

function health(over: Partial<AgentHealth>): AgentHealth {
  return { verdict: 'healthy', problems: [], checkedAt: minutesAgo(5), taskId: '5d0f6a4e-0000-4000-8000-000000000009', clockOffsetMs: 12, facts: null, ...over };
}

describe('HealthBadge', () => {
  it('says the verdict in words with how long ago it was found, and puts the problems in its title', () => {
    render(<HealthBadge health={health({ verdict: 'warning', problems: ['state directory has 4% free', 'pwsh not found'] })} />);
    const badge = screen.getByText('warning');
    expect(badge.className).toContain('badge-warn');
    expect(badge.getAttribute('data-status')).toBe('warning');
    expect(badge.textContent).toBe('warning · 5 minutes ago');
    expect(badge.getAttribute('title')).toMatch(/^state directory has 4% free\npwsh not found\nchecked /);
  });

  it('colours each verdict by its severity', () => {
    const { rerender } = render(<HealthBadge health={health({ verdict: 'healthy' })} />);
    expect(screen.getByText('healthy').className).toContain('badge-ok');
    rerender(<HealthBadge health={health({ verdict: 'unhealthy', problems: ['the agent did not answer within 60 s'] })} />);
    expect(screen.getByText('unhealthy').className).toContain('badge-danger');
  });

  it('shows a dash, and says "never checked" to screen readers, when the agent was never checked', () => {
    render(<HealthBadge health={null} />);
    const never = screen.getByTestId('health-never');
    expect(never.textContent).toBe('—never checked');
    expect(never.querySelector('[aria-hidden="true"]')?.textContent).toBe('—');
    expect(screen.queryByText(/healthy|warning/)).toBeNull();
  });
});
