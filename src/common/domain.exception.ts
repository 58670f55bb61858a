/**
 * Every error a client can cause is a DomainException with a stable code. The HTTP status
 * is derived from the code in one place (http-exception.filter.ts), never chosen ad hoc.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  MALFORMED_JSON: 400,
  BODY_TOO_DEEP: 400,
  VALIDATION_FAILED: 422,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  NOT_READY: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class DomainException extends Error {
  constructor(
    readonly code: ErrorCode | string,
    message: string,
    readonly status: number = ERROR_STATUS[code as ErrorCode] ?? 400,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

export class NotFoundException extends DomainException {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} "${id}" was not found in your organisation`);
  }
}
