import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { TASK_STATES, type TaskState } from '../task-states';

export class ListTasksQuery {
  @IsOptional()
  @IsIn(TASK_STATES, { message: `state must be one of ${TASK_STATES.join(', ')}` })
  state?: TaskState;

  @IsOptional()
  @IsUUID('all', { message: 'agentId must be an agent id (a UUID)' })
  agentId?: string;

  @IsOptional()
  @IsUUID('all', { message: 'nodeId must be the id of a control-plane node (GET /api/v1/nodes)' })
  nodeId?: string;

  @IsOptional()
  @IsUUID('all', { message: 'before must be the id of a task (from nextBefore)' })
  before?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;
}

export class TaskLogQuery {
  @IsOptional()
  @IsUUID('all', { message: "jobId must be the id of one of the task's jobs" })
  jobId?: string;
}
