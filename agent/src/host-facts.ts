import os from 'node:os';
import { PROTOCOL_VERSION, type AgentHello, type LocalPolicy } from '../../src/protocol/messages';
import { AGENT_VERSION } from './version';

/** What the agent tells the control plane about the host it runs on. */
export function hostFacts(): { hostname: string; os: string; arch: string; agentVersion: string } {
  return {
    hostname: (os.hostname() || 'unknown').slice(0, 255),
    os: `${os.type()} ${os.release()}`.slice(0, 100),
    arch: process.arch.slice(0, 32),
    agentVersion: AGENT_VERSION,
  };
}

export function buildHello(policy: LocalPolicy, maxJobs = 1): AgentHello {
  return { type: 'agent.hello', v: PROTOCOL_VERSION, ...hostFacts(), policy, maxJobs };
}
