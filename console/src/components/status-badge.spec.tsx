import { render, screen } from '@testing-library/react';
import { StatusBadge, toneOf } from './status-badge';

describe('StatusBadge', () => {
  it('always says the status in words, not only in colour', () => {
    render(<StatusBadge status="timed_out" />);
    const badge = screen.getByText('timed out');
    expect(badge.className).toContain('badge-danger');
    expect(badge.getAttribute('data-status')).toBe('timed_out');
  });

  it('gives related states the same tone', () => {
    expect([toneOf('approved'), toneOf('online'), toneOf('succeeded')]).toEqual(['ok', 'ok', 'ok']);
    expect([toneOf('failed'), toneOf('rejected')]).toEqual(['danger', 'danger']);
    expect(toneOf('something-new')).toBe('muted');
  });
});
