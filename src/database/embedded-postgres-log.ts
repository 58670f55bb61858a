import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { errCode } from './embedded-postgres-errors';
import type { RunAs } from './embedded-postgres-run-as';

const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
export const LOG_TAIL_LINES = 12;

export async function prepareLogFile(logFile: string, runAs: RunAs | undefined): Promise<void> {
  try {
    const st = await fsp.stat(logFile);
    if (st.size > LOG_ROTATE_BYTES) await fsp.rename(logFile, `${logFile}.1`);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
  }
  // pg_ctl opens the log as the server user, which cannot create files in a root-owned dir.
  const handle = await fsp.open(logFile, 'a', 0o640);
  await handle.close();
  if (runAs) await fsp.chown(logFile, runAs.uid, runAs.gid);
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export function readFrom(file: string, offset: number): string {
  try {
    const size = fileSize(file);
    if (size <= offset) return '';
    const fd = fs.openSync(file, 'r');
    try {
      const length = Math.min(size - offset, 256 * 1024);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export function tailOfFile(file: string): string {
  return tailLines(readFrom(file, Math.max(0, fileSize(file) - 16 * 1024)), LOG_TAIL_LINES);
}

export function logTail(file: string): string {
  return formatTail(tailOfFile(file), file);
}

export function formatTail(tail: string, file: string): string {
  return tail ? `\n--- last lines of ${file} ---\n${tail}` : '';
}

export function tailLines(text: string, count: number): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-count)
    .join('\n');
}

export function oneLine(text: string): string {
  return (
    text
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .join(' / ') || 'no output'
  );
}
