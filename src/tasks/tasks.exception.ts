import { DomainException } from '../common/domain.exception';

export enum TasksErrorCode {
  TARGETS_REFUSED = 'TARGETS_REFUSED',
  TASK_FINISHED = 'TASK_FINISHED',
  RETRIES_NEED_IDEMPOTENT = 'RETRIES_NEED_IDEMPOTENT',
  JOB_NOT_IN_TASK = 'JOB_NOT_IN_TASK',
  QUEUE_FULL = 'QUEUE_FULL',
}

const STATUS: Record<TasksErrorCode, number> = {
  TARGETS_REFUSED: 422,
  TASK_FINISHED: 409,
  RETRIES_NEED_IDEMPOTENT: 422,
  JOB_NOT_IN_TASK: 404,
  QUEUE_FULL: 429,
};

export class TasksException extends DomainException {
  constructor(code: TasksErrorCode, message: string, details?: unknown, headers?: Record<string, string>) {
    super(code, message, STATUS[code], details, headers);
  }
}
