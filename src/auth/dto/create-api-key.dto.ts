import { Transform } from 'class-transformer';
import { IsIn, IsString, Length } from 'class-validator';
import { OptionalNotNull } from '../../common/validation';
import { ROLES, type Role } from '../../orgs/roles';

export class CreateApiKeyDto {
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString({ message: 'name must be a string' })
  @Length(1, 100, { message: 'name must be 1 to 100 characters' })
  name: string;

  @OptionalNotNull()
  @IsIn(ROLES, { message: `role must be one of ${ROLES.join(', ')}` })
  role?: Role;
}
