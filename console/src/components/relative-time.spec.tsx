import { render, screen } from '@testing-library/react';
import { formatDuration, formatRelative, RelativeTime } from './relative-time';

const NOW = Date.parse('2026-03-01T12:00:00Z');

describe('formatRelative', () => {
  it.each([
    [NOW - 10_000, 'just now'],
    [NOW - 5 * 60_000, '5 minutes ago'],
    [NOW - 3 * 3600_000, '3 hours ago'],
    [NOW - 26 * 3600_000, 'yesterday'],
    [NOW + 2 * 3600_000, 'in 2 hours'],
    [NOW - 14 * 24 * 3600_000, '2 weeks ago'],
  ])('%s is "%s"', (at, text) => {
    expect(formatRelative(new Date(at), NOW)).toBe(text);
  });
});

describe('formatDuration', () => {
  it.each([
    [4_200, '4 s'],
    [65_000, '1 min 5 s'],
    [2 * 3600_000 + 7 * 60_000, '2 h 7 min'],
  ])('%s ms is "%s"', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('RelativeTime', () => {
  it('shows the time relative to now, with the exact time on hover and in datetime', () => {
    const at = new Date(Date.now() - 5 * 60_000);
    render(<RelativeTime value={at.toISOString()} />);
    const time = screen.getByText('5 minutes ago');
    expect(time.tagName).toBe('TIME');
    expect(time.getAttribute('datetime')).toBe(at.toISOString());
    expect(time.getAttribute('title')).toMatch(new RegExp(String(at.getFullYear())));
  });

  it('says what is missing instead of a time', () => {
    render(<RelativeTime value={null} fallback="never" />);
    expect(screen.getByText('never')).toBeTruthy();
  });
});
