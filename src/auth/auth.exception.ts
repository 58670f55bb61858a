import { DomainException } from '../common/domain.exception';

export enum AuthErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  INVALID_CREDENTIALS = 'INVALID_CREDENTIALS',
  INVALID_API_KEY = 'INVALID_API_KEY',
  FORBIDDEN = 'FORBIDDEN',
  CSRF_REJECTED = 'CSRF_REJECTED',
  RATE_LIMITED = 'RATE_LIMITED',
  ROLE_TOO_HIGH = 'ROLE_TOO_HIGH',
}

const STATUS: Record<AuthErrorCode, number> = {
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  INVALID_API_KEY: 401,
  FORBIDDEN: 403,
  CSRF_REJECTED: 403,
  RATE_LIMITED: 429,
  ROLE_TOO_HIGH: 403,
};

export class AuthException extends DomainException {
  constructor(code: AuthErrorCode, message: string, headers: Record<string, string> = {}) {
    super(code, message, STATUS[code], undefined, headers);
  }
}
