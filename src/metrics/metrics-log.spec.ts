import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsLog } from './metrics-log';

describe('the metrics log', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'metrics-log-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const request = (n: number) => ({ method: 'GET', route: '/api/v1/tasks', status: 200, durationMs: n, organizationId: null });

  it('writes nothing and costs nothing until it is opened', () => {
    const log = new MetricsLog();
    log.request(request(1));
    log.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('appends one JSON object a line, and writes what is pending when closed', () => {
    const log = new MetricsLog();
    const path = join(dir, 'm.jsonl');
    log.open(path, 1024 * 1024);
    log.request(request(1));
    log.task({ kind: 'script', organizationId: 'o', taskId: 't', outcome: 'succeeded', queuedSeconds: 0.1, runningSeconds: 2, jobs: 3 });
    log.close();
    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(['request', 'task']);
    expect(lines[1]).toMatchObject({ kind: 'script', jobs: 3, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('starts a new file past its size, keeping three old ones', async () => {
    jest.useFakeTimers();
    try {
      const log = new MetricsLog();
      const path = join(dir, 'm.jsonl');
      log.open(path, 200);
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 3; i++) log.request(request(round));
        await jest.advanceTimersByTimeAsync(1000);
        await (log as unknown as { writing: Promise<void> }).writing;
      }
      log.close();
      expect(readdirSync(dir).sort()).toEqual(['m.jsonl', 'm.jsonl.1', 'm.jsonl.2', 'm.jsonl.3']);
      // The newest in the live file, the next newest in .1.
      expect(readFileSync(path, 'utf8')).toContain('"durationMs":5');
      expect(readFileSync(`${path}.1`, 'utf8')).toContain('"durationMs":4');
    } finally {
      jest.useRealTimers();
    }
  });
});
