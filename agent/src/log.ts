export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `text` for a person reading a terminal, `json` (one object a line) for a log shipper. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

interface Sink {
  write(chunk: string): unknown;
}

/** `2026-11-22T05:00:00Z`: seconds are precise enough for an operator and keep lines short. */
export function logTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * One log line, newline included. Text: `<time> <level> <message>`. JSON: `{"time","level","msg"}`
 * with the time to the millisecond, so a shipper can keep lines of one second in order.
 */
export function formatLogLine(format: LogFormat, level: LogLevel, message: string, date: Date): string {
  if (format === 'json') return `${JSON.stringify({ time: date.toISOString(), level, msg: message })}\n`;
  return `${logTimestamp(date)} ${level} ${message}\n`;
}

/** Log lines on stderr (so stdout stays for command output), as text or as JSON. */
export class LineLogger implements Logger {
  private readonly threshold: number;

  constructor(
    private readonly sink: Sink = process.stderr,
    level: LogLevel = 'info',
    private readonly now: () => Date = () => new Date(),
    private readonly format: LogFormat = 'text',
  ) {
    this.threshold = ORDER[level];
  }

  debug(message: string) {
    this.write('debug', message);
  }
  info(message: string) {
    this.write('info', message);
  }
  warn(message: string) {
    this.write('warn', message);
  }
  error(message: string) {
    this.write('error', message);
  }

  private write(level: LogLevel, message: string) {
    if (ORDER[level] < this.threshold) return;
    this.sink.write(formatLogLine(this.format, level, message, this.now()));
  }
}

export function parseLogLevel(value: string | undefined): LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : 'info';
}
