import { DomainException } from '../common/domain.exception';

export enum VariablesErrorCode {
  INVALID_VARIABLES = 'INVALID_VARIABLES',
  NAME_TAKEN = 'NAME_TAKEN',
  SET_IN_USE = 'SET_IN_USE',
  UNKNOWN_SET = 'UNKNOWN_SET',
}

const STATUS: Record<VariablesErrorCode, number> = {
  INVALID_VARIABLES: 422,
  NAME_TAKEN: 409,
  SET_IN_USE: 409,
  UNKNOWN_SET: 422,
};

export class VariablesException extends DomainException {
  constructor(code: VariablesErrorCode, message: string, details?: unknown) {
    super(code, message, STATUS[code], details);
  }
}
