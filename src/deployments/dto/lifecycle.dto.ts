import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsInt, IsOptional, IsString, Length, Min, ValidateNested } from 'class-validator';
import { OptionalNotNull } from '../../common/validation';

export class PhaseDto {
  @IsString()
  @Length(1, 100)
  name: string;

  @IsArray({ message: 'environments must be a list of environment names or ids' })
  @ArrayMinSize(1, { message: 'a phase needs at least one environment' })
  @ArrayMaxSize(100)
  @IsString({ each: true })
  environments: string[];

  /** How many of its environments must succeed before the next phase opens; all of them when left out. */
  @IsOptional()
  @IsInt()
  @Min(1)
  minSuccessful?: number;

  @IsOptional()
  @IsBoolean()
  optional?: boolean;

  /** Environments of this phase that get a deployment queued as soon as the phase opens. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  autoDeploy?: string[];
}

export class CreateLifecycleDto {
  @IsString()
  @Length(1, 100)
  name: string;

  @IsOptional()
  @IsString()
  @Length(0, 1000)
  description?: string;

  /** Left out or empty: one phase per environment, in the organisation's order. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  @Type(() => PhaseDto)
  phases?: PhaseDto[];
}

export class UpdateLifecycleDto {
  @OptionalNotNull()
  @IsString()
  @Length(1, 100)
  name?: string;

  @OptionalNotNull()
  @IsString()
  @Length(0, 1000)
  description?: string;

  @OptionalNotNull()
  @IsArray()
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  @Type(() => PhaseDto)
  phases?: PhaseDto[];
}
