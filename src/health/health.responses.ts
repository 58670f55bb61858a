import { z } from 'zod';

// What the probes answer, as the API document describes it.

export const LiveSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Live' });
export const ReadySchema = z.object({ status: z.literal('ready'), database: z.literal('ok'), migrations: z.literal('applied') }).meta({ id: 'Ready' });
