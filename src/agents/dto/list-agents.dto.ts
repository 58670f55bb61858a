import { IsIn, IsOptional } from 'class-validator';
import { AGENT_STATUSES, type AgentStatus } from '../../protocol/messages';

export class ListAgentsQuery {
  @IsOptional()
  @IsIn(AGENT_STATUSES, { message: `status must be one of ${AGENT_STATUSES.join(', ')}` })
  status?: AgentStatus;
}
