import { DomainException } from '../common/domain.exception';

export enum DeploymentsErrorCode {
  NAME_TAKEN = 'NAME_TAKEN',
  INVALID_LIFECYCLE = 'INVALID_LIFECYCLE',
  LIFECYCLE_IS_DEFAULT = 'LIFECYCLE_IS_DEFAULT',
  LIFECYCLE_IN_USE = 'LIFECYCLE_IN_USE',
  UNKNOWN_LIFECYCLE = 'UNKNOWN_LIFECYCLE',
  INVALID_PROCESS = 'INVALID_PROCESS',
  NO_PROCESS = 'NO_PROCESS',
  VERSION_TAKEN = 'VERSION_TAKEN',
}

const STATUS: Record<DeploymentsErrorCode, number> = {
  NAME_TAKEN: 409,
  INVALID_LIFECYCLE: 422,
  LIFECYCLE_IS_DEFAULT: 409,
  LIFECYCLE_IN_USE: 409,
  UNKNOWN_LIFECYCLE: 422,
  INVALID_PROCESS: 422,
  NO_PROCESS: 422,
  VERSION_TAKEN: 409,
};

export class DeploymentsException extends DomainException {
  constructor(code: DeploymentsErrorCode, message: string, details?: unknown) {
    super(code, message, STATUS[code], details);
  }
}
