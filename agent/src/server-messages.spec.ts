import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { fingerprintOf, rawPublicKey, signServerPayload } from '../../src/protocol/identity';
import { PROTOCOL_VERSION, type JobOfferPayload, type JobOffersPayload, type SignedPayload } from '../../src/protocol/messages';
import { interpretServerMessage, pinnedKeys } from './server-messages';
import { offerPayload, type ScriptOffer } from './testing/fake-control-plane';

const agentId = randomUUID();
const otherAgentId = randomUUID();
const pinned = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const keys = pinnedKeys([{ keyId: 'key-1', publicKey: rawPublicKey(pinned.publicKey), fingerprint: fingerprintOf(rawPublicKey(pinned.publicKey)) }]);

function offer(overrides: Partial<ScriptOffer> = {}): JobOfferPayload {
  return offerPayload({ agentId, name: 'deploy web', ...overrides });
}

function offers(list: JobOfferPayload[], overrides: Partial<JobOffersPayload> = {}): JobOffersPayload {
  return { type: 'server.job.offers', v: PROTOCOL_VERSION, agentId, offers: list, issuedAt: Date.now(), ...overrides };
}

function signed(payload: SignedPayload, options: { keyId?: string; key?: KeyObject } = {}) {
  const text = JSON.stringify(payload);
  return { type: 'signed', keyId: options.keyId ?? 'key-1', payload: text, signature: signServerPayload(text, options.key ?? pinned.privateKey) };
}

describe('interpretServerMessage: job offers', () => {
  it('turns a single signed server.job.offer into kind "offers" with that one payload', () => {
    const one = offer();
    expect(interpretServerMessage(signed(one), keys, agentId)).toEqual({ kind: 'offers', payloads: [one] });
  });

  it('turns a signed server.job.offers envelope into every offer it carries, in order', () => {
    const first = offer({ name: 'first' });
    const second = offer({ name: 'second', attempt: 2 });
    expect(interpretServerMessage(signed(offers([first, second])), keys, agentId)).toEqual({ kind: 'offers', payloads: [first, second] });
  });

  it('ignores the whole envelope when one of its offers names another agent, saying which', () => {
    const result = interpretServerMessage(signed(offers([offer(), offer({ agentId: otherAgentId })])), keys, agentId);
    expect(result).toEqual({ kind: 'ignored', why: expect.stringContaining(otherAgentId) });
  });

  it('ignores an envelope addressed to another agent', () => {
    const result = interpretServerMessage(signed(offers([offer(), offer()], { agentId: otherAgentId })), keys, agentId);
    expect(result).toEqual({ kind: 'ignored', why: expect.stringContaining(otherAgentId) });
  });

  it('ignores an envelope signed with a key id that was never pinned', () => {
    const result = interpretServerMessage(signed(offers([offer(), offer()]), { keyId: 'key-9', key: stranger.privateKey }), keys, agentId);
    expect(result).toEqual({ kind: 'ignored', why: expect.stringContaining('"key-9"') });
    expect(result.kind === 'ignored' && result.why).toMatch(/not pinned/);
  });

  it('ignores an envelope whose signature does not verify with the pinned key: another key, or a payload changed after signing', () => {
    const byStranger = interpretServerMessage(signed(offers([offer(), offer()]), { key: stranger.privateKey }), keys, agentId);
    expect(byStranger).toEqual({ kind: 'ignored', why: expect.stringMatching(/signature does not verify/) });

    const payload = offers([offer()]);
    const envelope = signed(payload);
    expect(interpretServerMessage(envelope, keys, agentId)).toEqual({ kind: 'offers', payloads: payload.offers });
    const tampered = { ...envelope, payload: JSON.stringify({ ...payload, offers: [...payload.offers, offer()] }) };
    expect(interpretServerMessage(tampered, keys, agentId)).toEqual({ kind: 'ignored', why: expect.stringMatching(/signature does not verify/) });
  });

  it('ignores a signed server.job.offers with no offers in it', () => {
    expect(interpretServerMessage(signed(offers([])), keys, agentId)).toMatchObject({ kind: 'ignored' });
  });
});
