import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAgentKeyPair } from '../../src/protocol/identity';
import { readConfigFile } from './config';
import { EMPTY_STATUS, StateStore } from './state-store';

describe('state files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the state dir 0700 and the key 0600, and never replaces a key', () => {
    const store = new StateStore(join(dir, 'state'));
    store.ensureDir();
    store.writePrivateKey(generateAgentKeyPair().privateKeyPem);
    expect(statSync(store.dir).mode & 0o777).toBe(0o700);
    expect(statSync(store.keyPath).mode & 0o777).toBe(0o600);
    expect(() => store.writePrivateKey(generateAgentKeyPair().privateKeyPem)).toThrow(/EEXIST/);
    expect(store.readPrivateKey().warning).toBeNull();
    chmodSync(store.keyPath, 0o644);
    expect(store.readPrivateKey().warning).toContain('chmod 600');
  });

  it('says clearly when identity.json is damaged', () => {
    const store = new StateStore(dir);
    writeFileSync(store.identityPath, '{"version": 1}');
    expect(() => store.readIdentity()).toThrow(/identity\.json is damaged/);
  });

  it('round-trips status.json', () => {
    const store = new StateStore(dir);
    store.writeStatus({ ...EMPTY_STATUS, status: 'approved', transport: 'long-poll', connected: true }, new Date('2026-11-22T05:00:00Z'));
    expect(store.readStatus()).toEqual({ ...EMPTY_STATUS, status: 'approved', transport: 'long-poll', connected: true, updatedAt: '2026-11-22T05:00:00.000Z' });
  });

  it('lets one run hold the lock, and takes over a lock whose process is gone', () => {
    const store = new StateStore(dir);
    const release = store.acquireRunLock();
    writeFileSync(store.lockPath, '1\n'); // pid 1 is always alive
    expect(() => store.acquireRunLock()).toThrow('another corral-agent (pid 1) is already running');
    writeFileSync(store.lockPath, '999999999\n');
    const again = store.acquireRunLock();
    again();
    release();
  });

  it('refuses unknown keys in agent.json', () => {
    const path = join(dir, 'agent.json');
    writeFileSync(path, '{"server": "https://corral.example.com", "sever": "typo"}');
    expect(() => readConfigFile(path)).toThrow('unknown key "sever"');
    writeFileSync(path, '{"server": ["https://a.example.com"], "transport": "poll"}');
    expect(readConfigFile(path)).toEqual({ server: ['https://a.example.com'], transport: 'poll' });
    expect(readConfigFile(join(dir, 'missing.json'))).toBeNull();
  });
});
