import { Type } from 'class-transformer';
import { ArrayMaxSize, IsBoolean, IsObject, IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Max, Min } from 'class-validator';
import { JSONSchema } from 'class-validator-jsonschema';
import { DEPLOYMENT_STATES, type DeploymentState } from '../deployment.entity';
import type { InterruptionAction } from '../deployment-plan';

export class CreateDeploymentDto {
  /** The environment's name or id. */
  @IsString()
  @Length(1, 100)
  environment: string;

  /** Pause on a failure instead of failing (the environment's setting when left out). */
  @IsOptional()
  @IsBoolean()
  guidedFailure?: boolean;

  /** Names of steps not to run. */
  @IsOptional()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  skipSteps?: string[];

  /** Agents (names or ids) the deployment must not run on. */
  @IsOptional()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  excludeAgents?: string[];

  /** Answers to the release's prompted variables, by name (checkAnswers refuses a value that is not a string). */
  @IsOptional()
  @IsObject()
  @JSONSchema({ additionalProperties: { type: 'string' } })
  variables?: Record<string, string>;
}

export class ListDeploymentsQuery {
  @IsOptional()
  @IsUUID('all', { message: 'projectId must be a project id' })
  projectId?: string;

  /** The environment's name or id. */
  @IsOptional()
  @IsString()
  environment?: string;

  @IsOptional()
  @IsIn(DEPLOYMENT_STATES, { message: `state must be one of ${DEPLOYMENT_STATES.join(', ')}` })
  state?: DeploymentState;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;
}

const ACTIONS: InterruptionAction[] = ['proceed', 'abort', 'retry', 'ignore', 'exclude'];

export class AnswerInterruptionDto {
  @IsIn(ACTIONS, { message: `action must be one of ${ACTIONS.join(', ')}` })
  action: InterruptionAction;

  @IsOptional()
  @IsString()
  @Length(0, 2000)
  note?: string;
}
