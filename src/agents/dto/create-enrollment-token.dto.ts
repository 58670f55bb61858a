import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';

const LABEL = /^[\w.:-]{1,64}$/;

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

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(LABEL, { each: true, message: 'each environment must be 1-64 letters, digits, ".", "_", ":" or "-"' })
  environments?: string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(LABEL, { each: true, message: 'each role must be 1-64 letters, digits, ".", "_", ":" or "-"' })
  roles?: string[];
}
