import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import type { CorralLogger } from './logger';
import { databaseUnreachable } from './database-errors';
import { DomainException, ERROR_STATUS, type ErrorCode } from './domain.exception';

// body-parser reports its failures with a `type`; each maps to what the client did wrong.
const BODY_PARSER_ERRORS: Record<string, [ErrorCode, string]> = {
  'entity.parse.failed': ['MALFORMED_JSON', 'the request body is not valid JSON'],
  'entity.too.large': ['PAYLOAD_TOO_LARGE', 'the request body is larger than this server accepts'],
  'encoding.unsupported': ['UNSUPPORTED_MEDIA_TYPE', 'the request body uses an unsupported content encoding'],
  'charset.unsupported': ['UNSUPPORTED_MEDIA_TYPE', 'the request body uses an unsupported charset; send UTF-8'],
  'request.aborted': ['BAD_REQUEST', 'the request body was not received completely'],
  'request.size.invalid': ['BAD_REQUEST', 'the request body length does not match Content-Length'],
  'stream.encoding.set': ['BAD_REQUEST', 'the request body could not be read'],
};

const HTTP_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'ROUTE_NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/** Turns anything thrown into the one error shape; only genuine server faults become 500, and those are logged. */
export function toDomainException(err: unknown): DomainException {
  if (err instanceof DomainException) return err;
  const typed = err as { type?: string; status?: number; limit?: number };
  if (typed && typeof typed.type === 'string' && BODY_PARSER_ERRORS[typed.type]) {
    const [code, message] = BODY_PARSER_ERRORS[typed.type];
    const detail = typed.type === 'entity.too.large' && typed.limit ? ` (limit ${typed.limit} bytes)` : '';
    return new DomainException(code, message + detail);
  }
  // Two requests racing for the same unique value: the loser gets a conflict, not a crash.
  if ((err as { driverError?: { code?: string } })?.driverError?.code === '23505') {
    return new DomainException('CONFLICT', 'this conflicts with a change made at the same moment; reload and try again');
  }
  if (databaseUnreachable(err)) {
    return new DomainException('DATABASE_UNAVAILABLE', 'the control plane cannot reach its database at the moment; nothing was changed, try again shortly', 503, undefined, {
      'Retry-After': '5',
    });
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const response = err.getResponse();
    const raw = typeof response === 'string' ? response : (response as { message?: string | string[] }).message;
    const message = Array.isArray(raw) ? raw.join('; ') : (raw ?? err.message);
    const code = HTTP_CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST');
    return new DomainException(code, status === 404 ? message.replace(/^Cannot (\w+) (.*)$/, 'no route $1 $2; see the README for the API') : message, status);
  }
  return new DomainException('INTERNAL', 'the server failed to handle this request; it has been logged', ERROR_STATUS.INTERNAL);
}

@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: CorralLogger) {}

  catch(err: unknown, host: ArgumentsHost) {
    if (host.getType() !== 'http') throw err;
    const res = host.switchToHttp().getResponse<Response>();
    const mapped = toDomainException(err);
    if (mapped.status >= 500) this.logger.event('error', 'request failed', { err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) });
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(mapped.status).set(mapped.headers).json(mapped.toBody());
  }
}
