import { DomainException } from '../common/domain.exception';

export enum OrgsErrorCode {
  EMAIL_TAKEN = 'EMAIL_TAKEN',
  ALREADY_MEMBER = 'ALREADY_MEMBER',
  ALREADY_INVITED = 'ALREADY_INVITED',
  ROLE_TOO_HIGH = 'ROLE_TOO_HIGH',
  LAST_OWNER = 'LAST_OWNER',
  INVITATION_INVALID = 'INVITATION_INVALID',
}

const STATUS: Record<OrgsErrorCode, number> = {
  EMAIL_TAKEN: 409,
  ALREADY_MEMBER: 409,
  ALREADY_INVITED: 409,
  ROLE_TOO_HIGH: 403,
  LAST_OWNER: 409,
  INVITATION_INVALID: 400,
};

export class OrgsException extends DomainException {
  constructor(code: OrgsErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
