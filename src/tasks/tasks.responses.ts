import { z } from 'zod';
import { LOG_STREAMS, SCRIPT_SYNTAXES } from '../protocol/messages';
import { JOB_STATES, TASK_STATES } from './task-states';

// What the task engine's routes answer, as the API document describes it (@Responds checks each
// handler's return type against these at compile time).

export const JobSchema = z
  .object({
    id: z.uuid(),
    agentId: z.uuid(),
    agentName: z.string(),
    state: z.enum(JOB_STATES),
    attempt: z.number().int(),
    exitCode: z.number().int().nullable(),
    signal: z.string().nullable(),
    message: z.string().nullable(),
    createdAt: z.date(),
    startedAt: z.date().nullable(),
    finishedAt: z.date().nullable(),
    cancelRequestedAt: z.date().nullable(),
    logTruncated: z.boolean(),
  })
  .meta({ id: 'Job', description: "One agent's part of a task" });

export const TaskSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    kind: z.string(),
    state: z.enum(TASK_STATES),
    script: z.object({ syntax: z.enum(SCRIPT_SYNTAXES), body: z.string() }).nullable(),
    timeoutSeconds: z.number().int(),
    concurrencyKey: z.string().nullable(),
    idempotent: z.boolean(),
    maxAttempts: z.number().int(),
    createdBy: z.string(),
    createdAt: z.date(),
    startedAt: z.date().nullable(),
    finishedAt: z.date().nullable(),
    cancelRequestedAt: z.date().nullable(),
    cancelRequestedBy: z.string().nullable(),
    waitingFor: z
      .object({ taskId: z.uuid(), taskName: z.string(), taskState: z.enum(TASK_STATES), reason: z.string() })
      .nullable()
      .describe('The task holding its concurrency key, while this one is queued behind it'),
    jobs: z.array(JobSchema),
  })
  .meta({ id: 'Task' });

export const TaskPageSchema = z
  .object({ items: z.array(TaskSchema), nextBefore: z.uuid().nullable().describe('Pass as `before` for the next page; null on the last one') })
  .meta({ id: 'TaskPage' });

const LogLineSchema = z
  .object({
    jobId: z.uuid(),
    jobName: z.string(),
    agentName: z.string(),
    attempt: z.number().int(),
    seq: z.number().int(),
    stream: z.enum(LOG_STREAMS),
    text: z.string(),
    at: z.date(),
  })
  .meta({ id: 'LogLine' });

/** GET /api/v1/tasks/:id/log answers by its Accept header. */
export const TaskLogResponses = {
  'text/plain': z.string().describe('The output as it was printed; with several jobs and no jobId, each line starts with [agent name]'),
  'application/json': z.object({ taskId: z.uuid(), state: z.enum(TASK_STATES), lines: z.array(LogLineSchema) }).meta({ id: 'TaskLog' }),
  'text/event-stream': z.string().describe('Server-sent events until the task ends: `log` (a LogLine), then `end` ({state}); `error` when reading fails'),
};
