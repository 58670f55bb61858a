import { IsOptional, IsString, Length, Matches } from 'class-validator';

const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;
const VERSION_MESSAGE = 'version must be 1-64 letters, digits, ".", "+", "_" or "-", starting with a letter or digit (e.g. 1.4.0)';

export class CreateReleaseDto {
  /** Defaults to the one after the project's latest (1.0.0, 1.0.1, …). */
  @IsOptional()
  @Matches(VERSION, { message: VERSION_MESSAGE })
  version?: string;

  @IsOptional()
  @IsString()
  @Length(0, 10_000)
  notes?: string;
}

export class ListReleasesQuery {
  /** Only the release of this version (at most one: versions are unique in a project), however old. */
  @IsOptional()
  @Matches(VERSION, { message: VERSION_MESSAGE })
  version?: string;
}
