import { IsIn } from 'class-validator';
import { ROLES, type Role } from '../roles';

export class ChangeRoleDto {
  @IsIn(ROLES, { message: `role must be one of ${ROLES.join(', ')}` })
  role: Role;
}
