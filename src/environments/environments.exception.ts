import { DomainException } from '../common/domain.exception';

export enum EnvironmentsErrorCode {
  ENVIRONMENT_EXISTS = 'ENVIRONMENT_EXISTS',
  ENVIRONMENT_IN_USE = 'ENVIRONMENT_IN_USE',
  UNKNOWN_ENVIRONMENT = 'UNKNOWN_ENVIRONMENT',
  ORDER_INCOMPLETE = 'ORDER_INCOMPLETE',
}

const STATUS: Record<EnvironmentsErrorCode, number> = {
  ENVIRONMENT_EXISTS: 409,
  ENVIRONMENT_IN_USE: 409,
  UNKNOWN_ENVIRONMENT: 422,
  ORDER_INCOMPLETE: 422,
};

export class EnvironmentsException extends DomainException {
  constructor(code: EnvironmentsErrorCode, message: string, details?: unknown) {
    super(code, message, STATUS[code], details);
  }
}
