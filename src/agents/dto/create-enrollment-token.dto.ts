import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { LabelList } from './label-list.decorator';

export class CreateEnrollmentTokenDto {
  @IsOptional()
  @IsInt({ message: 'expiresInMinutes must be a whole number of minutes' })
  @Min(1)
  @Max(60 * 24 * 30, { message: 'expiresInMinutes must be at most 43200 (30 days)' })
  expiresInMinutes?: number;

  @IsOptional()
  @IsInt({ message: 'maxUses must be a whole number' })
  @Min(1)
  @Max(10_000)
  maxUses?: number;

  @IsOptional()
  @IsString()
  @Length(1, 200)
  description?: string;

  @LabelList('environment')
  environments?: string[];

  @LabelList('role')
  roles?: string[];
}
