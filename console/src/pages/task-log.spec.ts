import type { LogLine } from '../api/types';
import { mergeLogLines } from './task-log';

const line = (seq: number, text: string, attempt = 1): LogLine => ({ jobId: 'j1', jobName: 'run', agentName: 'web-01', attempt, seq, stream: 'stdout', text, at: '2026-03-01T12:00:00Z' });

describe('mergeLogLines', () => {
  it('appends new lines and skips ones already shown (a reconnect replays the log)', () => {
    const shown = [line(0, 'a\n'), line(1, 'b\n')];
    const merged = mergeLogLines(shown, [line(0, 'a\n'), line(1, 'b\n'), line(2, 'c\n')]);
    expect(merged.map((l) => l.text).join('')).toBe('a\nb\nc\n');
  });

  it('keeps a retry attempt apart from the first', () => {
    expect(mergeLogLines([line(0, 'first\n')], [line(0, 'second\n', 2)])).toHaveLength(2);
  });

  it('returns the same array when nothing is new (no re-render)', () => {
    const shown = [line(0, 'a\n')];
    expect(mergeLogLines(shown, [line(0, 'a\n')])).toBe(shown);
  });
});
