import { ArrayMaxSize, ArrayMinSize, ArrayUnique, IsArray, IsOptional, IsUUID } from 'class-validator';

export const MAX_CHECKED_AGENTS = 10_000;

/** POST /api/v1/agents/health-checks: check these agents, or every approved one. */
export class CreateHealthCheckDto {
  @IsOptional()
  @IsArray({ message: 'agentIds must be a list of agent ids (leave it out to check every approved agent)' })
  @ArrayMinSize(1, { message: 'agentIds must name at least one agent (leave it out to check every approved agent)' })
  @ArrayMaxSize(MAX_CHECKED_AGENTS)
  @ArrayUnique({ message: 'agentIds must not repeat an agent' })
  @IsUUID('all', { each: true, message: 'each of agentIds must be an agent id (a UUID)' })
  agentIds?: string[];
}
