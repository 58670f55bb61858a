import { ArrayMaxSize, IsArray, IsOptional, IsString, IsUUID, Length, Matches, ValidateIf } from 'class-validator';
import { OptionalNotNull } from '../../common/validation';

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const SLUG_MESSAGE = 'slug must be 1-64 lowercase letters, digits and "-", not starting or ending with "-"';

export class CreateProjectDto {
  @IsString()
  @Length(1, 100)
  name: string;

  @IsOptional()
  @Matches(SLUG, { message: SLUG_MESSAGE })
  slug?: string;

  @IsOptional()
  @IsString()
  @Length(0, 2000)
  description?: string;

  /** A lifecycle id, or "default" (the default when left out). */
  @IsOptional()
  @IsString()
  lifecycleId?: string;
}

export class UpdateProjectDto {
  @OptionalNotNull()
  @IsString()
  @Length(1, 100)
  name?: string;

  @OptionalNotNull()
  @Matches(SLUG, { message: SLUG_MESSAGE })
  slug?: string;

  @OptionalNotNull()
  @IsString()
  @Length(0, 2000)
  description?: string;

  /** A lifecycle id, or "default"; null also means the default. */
  @ValidateIf((_o, v) => v !== null)
  @IsOptional()
  @IsString()
  lifecycleId?: string | null;

  /** The library variable sets it includes, in order (an earlier one wins a tie between sets). */
  @OptionalNotNull()
  @IsArray()
  @ArrayMaxSize(50)
  @IsUUID('all', { each: true, message: 'variableSetIds must be ids of variable sets (GET /api/v1/variable-sets)' })
  variableSetIds?: string[];
}

/** Where a step would run: an environment (name or id), and optionally an agent (name or id, its roles count) and a step. */
export class VariablesPreviewQuery {
  @IsOptional()
  @IsString()
  @Length(1, 200)
  environment?: string;

  @IsOptional()
  @IsString()
  @Length(1, 200)
  agent?: string;

  @IsOptional()
  @IsString()
  @Length(1, 200)
  step?: string;
}
