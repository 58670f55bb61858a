import type { LoggerService } from '@nestjs/common';
import type { LogFormat, LogLevel } from '../config/config';
import { requestContext } from './request-context';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// Nest's start-up chatter (every module and route) is for debugging, not for an operator's log.
const FRAMEWORK_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication', 'WebSocketsController']);

// Keys whose values never reach a log line, whatever a caller passes.
const SECRET_KEY = /pass(word)?|secret|token|key|authorization|cookie/i;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)]));
}

/** Structured logger: one JSON object per line, or a readable line on a terminal; each line carries the request id. */
export class CorralLogger implements LoggerService {
  private readonly threshold: number;
  private readonly pretty: boolean;

  constructor(
    level: LogLevel = 'info',
    format: LogFormat = 'auto',
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {
    this.threshold = LEVELS[level];
    this.pretty = format === 'pretty' || (format === 'auto' && Boolean((out as NodeJS.WriteStream).isTTY));
  }

  log(message: unknown, ...rest: unknown[]) {
    const context = rest[rest.length - 1];
    this.write(typeof context === 'string' && FRAMEWORK_CONTEXTS.has(context) ? 'debug' : 'info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }

  /** Logs an event with structured fields: logger.event('info', 'request finished', { status: 200 }). */
  event(level: LogLevel, msg: string, fields: Record<string, unknown> = {}, context?: string) {
    if (LEVELS[level] < this.threshold) return;
    const { requestId, organizationId } = requestContext.getStore() ?? {};
    const record = {
      time: new Date().toISOString(),
      level,
      ...(context ? { context } : {}),
      ...(requestId ? { requestId } : {}),
      ...(organizationId ? { organizationId } : {}),
      msg,
      ...(redact(fields) as object),
    };
    this.out.write(this.pretty ? this.format(record) : `${JSON.stringify(record)}\n`);
  }

  private write(level: LogLevel, message: unknown, rest: unknown[]) {
    // Nest passes the context name as the last string argument and, for errors, a stack before it.
    const args = [...rest];
    const context = typeof args[args.length - 1] === 'string' ? (args.pop() as string) : undefined;
    const fields: Record<string, unknown> = {};
    if (level === 'error' && typeof args[0] === 'string' && args[0].includes('\n')) fields.stack = args.shift();
    if (message instanceof Error) {
      fields.err = { name: message.name, message: message.message, stack: message.stack };
      message = message.message;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(fields, message);
      message = (message as { msg?: string }).msg ?? '';
    }
    if (args.length) fields.args = args;
    this.event(level, String(message), fields, context);
  }

  private format(record: Record<string, unknown>): string {
    const { time, level, context, requestId, msg, ...fields } = record;
    const extra = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
    const ctx = context ? `[${context}] ` : '';
    const req = requestId ? ` (req ${requestId})` : '';
    return `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${ctx}${msg}${req}${extra}\n`;
  }
}
