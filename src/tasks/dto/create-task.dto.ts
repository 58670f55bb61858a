import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { MIN_SENSITIVE_VALUE_LENGTH } from '../../protocol/masking';
import { MAX_SCRIPT_CHARS, SCRIPT_SYNTAXES, type ScriptSyntax } from '../../protocol/messages';

export const MAX_TARGETS = 500;
export const MAX_TASK_TIMEOUT_SECONDS = 7 * 24 * 3600;

export class TaskTargetsDto {
  @IsArray({ message: 'targets.agentIds must be a list of agent ids' })
  @ArrayMinSize(1, { message: 'targets.agentIds must name at least one agent' })
  @ArrayMaxSize(MAX_TARGETS)
  @ArrayUnique({ message: 'targets.agentIds must not repeat an agent' })
  @IsUUID('all', { each: true, message: 'each of targets.agentIds must be an agent id (a UUID)' })
  agentIds: string[];
}

export class ScriptDto {
  @IsIn(SCRIPT_SYNTAXES, { message: `script.syntax must be one of ${SCRIPT_SYNTAXES.join(', ')}` })
  syntax: ScriptSyntax;

  @IsString()
  @Length(1, MAX_SCRIPT_CHARS, { message: `script.body must be 1 to ${MAX_SCRIPT_CHARS} characters` })
  body: string;
}

/** POST /api/v1/tasks: run a script on each target agent. */
export class CreateTaskDto {
  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string;

  @IsDefined({ message: 'targets is required: {"agentIds": [...]}' })
  @ValidateNested()
  @Type(() => TaskTargetsDto)
  targets: TaskTargetsDto;

  @IsDefined({ message: 'script is required: {"syntax": "bash", "body": "..."}' })
  @ValidateNested()
  @Type(() => ScriptDto)
  script: ScriptDto;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TASK_TIMEOUT_SECONDS)
  timeoutSeconds?: number;

  @IsOptional()
  @IsString()
  @Length(1, 200)
  concurrencyKey?: string;

  @IsOptional()
  @IsBoolean()
  idempotent?: boolean;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10)
  maxAttempts?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(MIN_SENSITIVE_VALUE_LENGTH, { each: true, message: `each sensitive value must be at least ${MIN_SENSITIVE_VALUE_LENGTH} characters (shorter ones would mask ordinary words)` })
  @MaxLength(4096, { each: true })
  sensitiveValues?: string[];
}
