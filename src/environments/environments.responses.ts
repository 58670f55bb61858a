import { z } from 'zod';

// What the environment routes answer, as the API document describes it.

export const EnvironmentSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    guidedFailure: z.boolean(),
    position: z.number().int().describe("Its place in the organisation's order"),
    createdAt: z.date(),
  })
  .meta({ id: 'Environment' });
