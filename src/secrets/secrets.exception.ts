import { DomainException } from '../common/domain.exception';

export enum SecretsErrorCode {
  SECRET_MALFORMED = 'SECRET_MALFORMED',
  SECRET_KEY_UNKNOWN = 'SECRET_KEY_UNKNOWN',
  SECRET_REJECTED = 'SECRET_REJECTED',
  SECRETS_KEY_MISMATCH = 'SECRETS_KEY_MISMATCH',
  SECRET_KEYS_NOT_LOADED = 'SECRET_KEYS_NOT_LOADED',
}

/**
 * Something the server holds cannot be sealed or opened: never caused by what a client sent,
 * so always a 500. Messages name keys and rows, never a value, sealed or clear.
 */
export class SecretsException extends DomainException {
  constructor(code: SecretsErrorCode, message: string) {
    super(code, message, 500);
  }
}
