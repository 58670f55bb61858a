import { DomainException } from '../common/domain.exception';

export enum HealthChecksErrorCode {
  NO_AGENTS = 'NO_AGENTS',
}

const STATUS: Record<HealthChecksErrorCode, number> = {
  NO_AGENTS: 422,
};

export class HealthChecksException extends DomainException {
  constructor(code: HealthChecksErrorCode, message: string, details?: unknown) {
    super(code, message, STATUS[code], details);
  }
}
