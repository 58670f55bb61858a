import type { KeyObject } from 'node:crypto';
import { publicKeyFromRaw, verifyServerPayload } from '../../src/protocol/identity';
import {
  ServerMessageSchema,
  SignedPayloadSchema,
  type JobCancelPayload,
  type JobFinishAck,
  type JobGone,
  type JobLogAck,
  type JobOfferPayload,
  type JobStart,
  type ServerKey,
  type ServerKeysPayload,
  type StatusPayload,
} from '../../src/protocol/messages';

export type InterpretedMessage =
  | { kind: 'status'; payload: StatusPayload }
  | { kind: 'keys'; payload: ServerKeysPayload }
  | { kind: 'offers'; payloads: JobOfferPayload[] }
  | { kind: 'cancel'; payload: JobCancelPayload }
  | { kind: 'job'; message: JobStart | JobGone | JobLogAck | JobFinishAck }
  | { kind: 'server-error'; code: string; message: string; jobId: string | null }
  | { kind: 'reconnect'; maxDelayMs: number }
  | { kind: 'ignored'; why: string };

/** The server keys pinned at enrollment, by key id. */
export function pinnedKeys(serverKeys: ServerKey[]): Map<string, KeyObject> {
  return new Map(serverKeys.map((k) => [k.keyId, publicKeyFromRaw(k.publicKey)]));
}

/**
 * Turns one message from the control plane into something the agent may act on. A signed
 * payload is verified against the pinned key BEFORE it is parsed; anything that fails is
 * ignored (and said so), never half-trusted.
 */
export function interpretServerMessage(raw: unknown, keys: Map<string, KeyObject>, agentId: string): InterpretedMessage {
  const message = ServerMessageSchema.safeParse(raw);
  if (!message.success) {
    const type = typeof raw === 'object' && raw !== null && 'type' in raw ? String((raw as { type: unknown }).type) : typeof raw;
    return { kind: 'ignored', why: `unrecognised message (type ${type})` };
  }
  const m = message.data;
  if (m.type === 'server.reconnect') return { kind: 'reconnect', maxDelayMs: m.maxDelayMs };
  if (m.type === 'server.error') return { kind: 'server-error', code: m.code, message: m.message, jobId: m.jobId };
  if (m.type !== 'signed') return { kind: 'job', message: m };

  const key = keys.get(m.keyId);
  if (!key) return { kind: 'ignored', why: `signed by key "${m.keyId}", which was not pinned at enrollment` };
  if (!verifyServerPayload(m.payload, m.signature, key)) return { kind: 'ignored', why: `signature does not verify with pinned key "${m.keyId}"` };
  let json: unknown;
  try {
    json = JSON.parse(m.payload);
  } catch {
    return { kind: 'ignored', why: 'signed payload is not JSON' };
  }
  const payload = SignedPayloadSchema.safeParse(json);
  if (!payload.success) return { kind: 'ignored', why: 'signed payload is not a message this agent understands' };
  const p = payload.data;
  if (p.agentId !== agentId) return { kind: 'ignored', why: `signed ${p.type} is for agent ${p.agentId}, not this one` };
  if (p.type === 'server.job.offer') return { kind: 'offers', payloads: [p] };
  if (p.type === 'server.job.offers') {
    const other = p.offers.find((o) => o.agentId !== agentId);
    if (other) return { kind: 'ignored', why: `a signed offer in server.job.offers is for agent ${other.agentId}, not this one` };
    return { kind: 'offers', payloads: p.offers };
  }
  if (p.type === 'server.job.cancel') return { kind: 'cancel', payload: p };
  if (p.type === 'server.keys') return { kind: 'keys', payload: p };
  return { kind: 'status', payload: p };
}

/** Parses a WebSocket text frame; non-JSON becomes an "ignored" verdict through the schema. */
export function parseFrame(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
