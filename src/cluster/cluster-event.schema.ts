import { z } from 'zod';

// A node that already acted on an event names itself as `from`, so that it does not act twice.
const from = z.string().optional();

/** An agent's row changed (status, keys, presence, health): whoever shows or holds it re-reads it. */
export const AgentChangedEventSchema = z.object({ kind: z.literal('agent-changed'), agentId: z.string() });

/** These agents have work to be offered (or, with `cancels`, jobs to stop): the node holding each looks. */
export const JobsReadyEventSchema = z.object({ kind: z.literal('jobs-ready'), agentIds: z.array(z.string()), cancels: z.boolean().optional(), from });

/** These tasks changed (their state, jobs or log): followers re-read them. */
export const TaskChangedEventSchema = z.object({ kind: z.literal('task-changed'), taskIds: z.array(z.string()), from });

/** A node's row changed (it was asked to drain): that node beats at once to hear it. */
export const NodeChangedEventSchema = z.object({ kind: z.literal('node-changed'), nodeId: z.string() });

/** The server signing keys changed (a rotation step): nodes reload them and tell their agents. */
export const KeysChangedEventSchema = z.object({ kind: z.literal('keys-changed') });

/** A rotation added a secret key (or retired old ones): nodes reload secret_keys and answer with `secret-keys-loaded`. */
export const SecretKeysChangedEventSchema = z.object({ kind: z.literal('secret-keys-changed') });

/** A node now seals new values with `keyId`: what a rotation waits for from every live node. */
export const SecretKeysLoadedEventSchema = z.object({ kind: z.literal('secret-keys-loaded'), nodeId: z.string(), keyId: z.string() });

/** An organisation's API keys or memberships changed (a revocation, a role, a removal): nodes forget the principals they hold of it. */
export const CredentialsChangedEventSchema = z.object({ kind: z.literal('credentials-changed'), organizationId: z.string(), from });

/** A platform operator changed an organisation's limits: nodes read them again. */
export const LimitsChangedEventSchema = z.object({ kind: z.literal('limits-changed'), organizationId: z.string(), from });

/** Every event a node tells the cluster, one schema per kind. */
export const ClusterEventSchema = z.discriminatedUnion('kind', [
  AgentChangedEventSchema,
  JobsReadyEventSchema,
  TaskChangedEventSchema,
  NodeChangedEventSchema,
  KeysChangedEventSchema,
  CredentialsChangedEventSchema,
  SecretKeysChangedEventSchema,
  SecretKeysLoadedEventSchema,
  LimitsChangedEventSchema,
]);

/**
 * What one node tells every node (itself included). Each only says "look again". An event that
 * names the node it came `from` was already acted on there, and that node does not hear it again.
 */
export type ClusterEvent = z.infer<typeof ClusterEventSchema>;
export type ClusterEventKind = ClusterEvent['kind'];
export type ClusterEventOf<K extends ClusterEventKind> = Extract<ClusterEvent, { kind: K }>;

/** A notification's payload as an event, or why it is not one. */
export function parseClusterEvent(payload: string | undefined): { event: ClusterEvent } | { problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(payload ?? '');
  } catch {
    return { problem: 'not JSON' };
  }
  const parsed = ClusterEventSchema.safeParse(raw);
  if (parsed.success) return { event: parsed.data };
  return { problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ') };
}
