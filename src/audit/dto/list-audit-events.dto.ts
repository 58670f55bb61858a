import { Type } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';

export class ListAuditEventsQuery {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @IsOptional()
  @Matches(/^\d{1,18}$/, { message: 'before must be the id of an audit event (a whole number)' })
  before?: string;

  @IsOptional()
  @Matches(/^[a-z_.]{1,64}$/, { message: 'action must look like "auth.login"' })
  action?: string;

  @IsOptional()
  @Matches(/^[\w.:@-]{1,100}$/, { message: "targetId must be the id of an audit event's target (an agent, task, key…)" })
  targetId?: string;
}
