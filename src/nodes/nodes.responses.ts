import { z } from 'zod';

// What the control-plane node routes answer, as the API document describes it.

export const NodeSchema = z
  .object({
    id: z.string(),
    address: z.string(),
    pid: z.number().int(),
    startedAt: z.date(),
    lastSeenAt: z.date(),
    state: z.enum(['alive', 'dead', 'stopped']),
    draining: z.boolean(),
    connectedAgents: z.number().int().describe("Of the caller's organisation (of all, for a platform operator)"),
    runningJobs: z.number().int(),
    self: z.boolean().describe('The node that answered'),
  })
  .meta({ id: 'Node' });

export const ClusterNodeSchema = NodeSchema.extend({
  organizations: z
    .array(z.object({ organizationId: z.uuid(), name: z.string(), connectedAgents: z.number().int(), runningJobs: z.number().int() }))
    .describe("Each organisation's agents and running jobs on the node"),
}).meta({ id: 'ClusterNode' });
