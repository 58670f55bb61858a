import { IsOptional, IsString, Length, Matches } from 'class-validator';

export class CreateReleaseDto {
  /** Defaults to the one after the project's latest (1.0.0, 1.0.1, …). */
  @IsOptional()
  @Matches(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/, { message: 'version must be 1-64 letters, digits, ".", "+", "_" or "-", starting with a letter or digit (e.g. 1.4.0)' })
  version?: string;

  @IsOptional()
  @IsString()
  @Length(0, 10_000)
  notes?: string;
}
