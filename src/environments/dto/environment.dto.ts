import { ArrayMaxSize, IsArray, IsBoolean, IsOptional, IsString, IsUUID, Length, Matches } from 'class-validator';
import { OptionalNotNull } from '../../common/validation';

// The same shape as the environment labels agents and enrollment tokens carry.
const NAME = /^[\w.:-]{1,64}$/;
const NAME_MESSAGE = 'name must be 1-64 letters, digits, ".", "_", ":" or "-"';

export class CreateEnvironmentDto {
  @Matches(NAME, { message: NAME_MESSAGE })
  name: string;

  @IsOptional()
  @IsString()
  @Length(0, 1000)
  description?: string;

  @IsOptional()
  @IsBoolean()
  guidedFailure?: boolean;
}

export class UpdateEnvironmentDto {
  @OptionalNotNull()
  @Matches(NAME, { message: NAME_MESSAGE })
  name?: string;

  @OptionalNotNull()
  @IsString()
  @Length(0, 1000)
  description?: string;

  @OptionalNotNull()
  @IsBoolean()
  guidedFailure?: boolean;
}

export class OrderEnvironmentsDto {
  @IsArray({ message: 'ids must be the list of every environment id, in the order wanted' })
  @ArrayMaxSize(1000)
  @IsUUID('all', { each: true, message: 'each id must be an environment id' })
  ids: string[];
}
