import { z } from 'zod';
import { TaskSchema } from '../tasks/tasks.responses';

// What the health-check route answers, as the API document describes it.

export const HealthCheckTaskSchema = TaskSchema.extend({
  skipped: z.array(z.object({ agentId: z.uuid(), name: z.string(), reason: z.string() })).describe('Approved agents left out: their local policy forbids health checks'),
}).meta({ id: 'HealthCheckTask' });
