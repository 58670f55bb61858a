import { IsOptional, IsString, Length, Matches } from 'class-validator';
import { LabelList } from './label-list.decorator';

/** The admin confirms what the agent printed: its fingerprint or its verification code. */
export class ApproveAgentDto {
  @IsOptional()
  @IsString()
  @Length(10, 100)
  fingerprint?: string;

  @IsOptional()
  @IsString()
  @Length(8, 12, { message: 'verificationCode must look like 4F7Q-K2MD' })
  verificationCode?: string;

  @IsOptional()
  @Matches(/^[\w.@-]{1,100}$/, { message: 'name may use letters, digits, ".", "_", "@" and "-"' })
  name?: string;

  @LabelList('environment')
  environments?: string[];

  @LabelList('role')
  roles?: string[];
}

export class DecideAgentDto {
  @IsOptional()
  @IsString()
  @Length(1, 500)
  reason?: string;
}

/** Environments (by name or id) and roles replace the agent's own; a list left out stays as it is. */
export class UpdateAgentDto {
  @LabelList('environment')
  environments?: string[];

  @LabelList('role')
  roles?: string[];
}
