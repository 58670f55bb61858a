import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

// Shared by the control plane and the agent: nothing here may import from outside src/protocol.

/** Header names of a signed agent request. */
export const SIGNATURE_HEADERS = {
  agentId: 'x-corral-agent-id',
  timestamp: 'x-corral-timestamp',
  nonce: 'x-corral-nonce',
  signature: 'x-corral-signature',
} as const;

/** The agent id used in the signature of an enrollment request, before an id exists. */
export const ENROLLMENT_SIGNER = 'enroll';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
// Crockford's base32: no I, L, O or U, so a code read aloud or retyped is unambiguous.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export interface KeyPair {
  publicKey: string; // base64 of the raw 32-byte Ed25519 key
  privateKeyPem: string;
}

export function generateAgentKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: rawPublicKey(publicKey), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export function rawPublicKey(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32).toString('base64');
}

/** Parses a base64 raw Ed25519 public key; throws when it is not one. */
export function publicKeyFromRaw(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== raw) throw new Error('public key must be 32 bytes of Ed25519, base64-encoded');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, bytes]), format: 'der', type: 'spki' });
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

/** `SHA256:` and the unpadded base64 of the key's SHA-256, as OpenSSH prints fingerprints. */
export function fingerprintOf(publicKey: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** A short code a human compares between the agent's terminal and the console, e.g. `4F7Q-K2MD` (40 bits). */
export function verificationCodeOf(publicKey: string): string {
  const digest = createHash('sha256').update('corral-verification-code').update(Buffer.from(publicKey, 'base64')).digest();
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(digest[i]);
  let code = '';
  for (let i = 7; i >= 0; i--) code += CROCKFORD[Number((bits >> BigInt(i * 5)) & 31n)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** Normalises what a human typed: case, spaces, dashes, and the letters Crockford maps to digits. */
export function normalizeVerificationCode(input: string): string {
  const cleaned = input.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  return cleaned.length === 8 ? `${cleaned.slice(0, 4)}-${cleaned.slice(4)}` : cleaned;
}

export function bodyHash(body: string | Buffer | undefined): string {
  return createHash('sha256')
    .update(body ?? '')
    .digest('hex');
}

export interface RequestToSign {
  method: string;
  path: string; // path and query, exactly as sent
  timestamp: number; // ms since the epoch
  nonce: string;
  body?: string | Buffer;
  agentId: string;
}

/** The exact bytes an agent signs: every part that a replay or a tamper would change. */
export function canonicalRequest(r: RequestToSign): string {
  return ['corral-agent-request-v1', r.method.toUpperCase(), r.path, String(r.timestamp), r.nonce, bodyHash(r.body), r.agentId].join('\n');
}

/** Headers proving the agent holds its private key, for one request. */
export function signRequest(r: Omit<RequestToSign, 'timestamp' | 'nonce'>, privateKey: KeyObject, now = Date.now()): Record<string, string> {
  const nonce = randomBytes(16).toString('base64url');
  const signature = sign(null, Buffer.from(canonicalRequest({ ...r, timestamp: now, nonce })), privateKey).toString('base64');
  return {
    [SIGNATURE_HEADERS.agentId]: r.agentId,
    [SIGNATURE_HEADERS.timestamp]: String(now),
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: signature,
  };
}

export function verifyRequestSignature(r: RequestToSign, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(canonicalRequest(r)), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Server-signed payloads: the agent pins the server key at enrollment and checks every one. */
export function signServerPayload(payload: string, privateKey: KeyObject): string {
  return sign(null, Buffer.from(`corral-server-v1\n${payload}`), privateKey).toString('base64');
}

export function verifyServerPayload(payload: string, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(`corral-server-v1\n${payload}`), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
