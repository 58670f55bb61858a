import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type AgentJobMessage } from '../../src/protocol/messages';
import { AgentConnection } from './connection';
import { buildHello } from './host-facts';
import { HttpClient } from './http-client';
import { JobManager, type JobLink } from './jobs/job-manager';
import { LineLogger } from './log';
import { DEFAULT_POLICY } from './policy';
import { DEFAULT_TIMINGS, type SessionEnd } from './session';
import { StateStore } from './state-store';
import { FAST_TIMINGS, FakeControlPlane, waitFor } from './testing/fake-control-plane';
import { runWebSocketSession } from './ws-transport';

describe('the WebSocket transport against a fake control plane', () => {
  let cp: FakeControlPlane;
  let dir: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    cp = await FakeControlPlane.start();
    dir = mkdtempSync(join(tmpdir(), 'corral-ws-'));
    lines.length = 0;
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const lines: string[] = [];
  const logger = new LineLogger({ write: (s: string) => lines.push(s) }, 'debug');
  /** Frames the agent sent after its hello, parsed. */
  const framesAfterHello = () => cp.frames.slice(1).map((f) => JSON.parse(f) as unknown);

  describe('one session, with the hooks recorded', () => {
    /** A session whose hooks record every message; `endOn` decides which message ends it. */
    async function openSession(endOn: (message: unknown) => SessionEnd | null = () => null) {
      const received: unknown[] = [];
      const linked: { link: JobLink | null } = { link: null };
      const controller = new AbortController();
      const client = new HttpClient({ env: {} });
      const ended = runWebSocketSession({
        server: cp.url,
        client,
        signer: cp.signer(),
        hello: buildHello(DEFAULT_POLICY),
        hooks: {
          connected: (_transport, _server, link) => (linked.link = link),
          message: (message) => {
            received.push(message);
            return endOn(message);
          },
          knownStatus: () => null,
        },
        timings: { ...DEFAULT_TIMINGS, ...FAST_TIMINGS },
        logger,
        signal: controller.signal,
      });
      cleanups.push(async () => {
        controller.abort();
        await ended;
        client.close();
      });
      // The fake answers the hello with the status, in a frame of its own.
      await waitFor(() => linked.link !== null && received.length === 1, 'the connection and the status after the hello');
      return { received, link: linked.link!, ended };
    }

    const start = (jobId: string) => ({ type: 'server.job.start', jobId, attempt: 1, leaseSeconds: 30 });
    const gone = (jobId: string) => ({ type: 'server.job.gone', jobId, attempt: 1, reason: 'cancelled' });

    it('hands every message of an array frame to the hooks, in order', async () => {
      const session = await openSession();
      const [a, b] = [randomUUID(), randomUUID()];
      const frame = [start(a), gone(b), { type: 'server.error', jobId: null, code: 'VALIDATION_FAILED', message: 'x' }, start(b)];
      cp.broadcastFrame(frame);
      await waitFor(() => session.received.length === 1 + frame.length, 'every message of the frame');
      expect(session.received.slice(1)).toEqual(frame);
    });

    it('stops at the message that ends the session: the rest of its frame is not handled', async () => {
      const session = await openSession((m) => ((m as { type?: string }).type === 'server.reconnect' ? { kind: 'reconnect', delayMs: 0 } : null));
      const [a, b] = [randomUUID(), randomUUID()];
      const reconnect = { type: 'server.reconnect', v: PROTOCOL_VERSION, maxDelayMs: 0 };
      cp.broadcastFrame([start(a), reconnect, start(b)]);
      await expect(session.ended).resolves.toEqual({ kind: 'reconnect', delayMs: 0 });
      expect(session.received.slice(1)).toEqual([start(a), reconnect]);
      await waitFor(() => cp.closes.length === 1, 'the close');
      expect(cp.closes).toEqual([1000]);
    });

    it('sends what it is given at one moment as one array frame, in order, and a lone message as a plain frame', async () => {
      cp.autoStart = false;
      const session = await openSession();
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const accept = (jobId: string): AgentJobMessage => ({ type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId, attempt: 1 });
      const heartbeat: AgentJobMessage = { type: 'agent.job.heartbeat', v: PROTOCOL_VERSION, jobs: [{ jobId: a, attempt: 1 }] };
      expect(session.link.send([accept(a)])).toBe(true);
      expect(session.link.send([accept(b), heartbeat])).toBe(true);
      await waitFor(() => cp.jobMessages.length === 3, 'the three messages');
      expect(framesAfterHello()).toEqual([[accept(a), accept(b), heartbeat]]);

      session.link.send([accept(c)]);
      await waitFor(() => cp.jobMessages.length === 4, 'the fourth message');
      expect(framesAfterHello()).toEqual([[accept(a), accept(b), heartbeat], accept(c)]);
      expect(cp.jobMessages).toEqual([accept(a), accept(b), heartbeat, accept(c)]);
      expect(cp.invalidMessages).toEqual([]);
    });
  });

  describe('the agent, with its job manager', () => {
    async function startAgent(maxJobs: number) {
      const jobs = new JobManager({ stateDir: dir, agentId: cp.agentId, agentName: cp.agentName, maxJobs, policy: () => DEFAULT_POLICY, logger });
      jobs.init();
      const controller = new AbortController();
      const connection = new AgentConnection({
        identity: cp.identity(),
        servers: [cp.url],
        transport: 'ws',
        client: new HttpClient({ env: {} }),
        signer: cp.signer(),
        hello: buildHello(DEFAULT_POLICY, maxJobs),
        logger,
        jobs,
        store: new StateStore(dir),
        timings: FAST_TIMINGS,
      });
      const done = connection.run(controller.signal);
      cleanups.push(async () => {
        controller.abort();
        await done;
        jobs.close();
      });
      return { connection, jobs };
    }

    /** One frame from the server: the approval, then two offers under one signature. */
    async function approveAndOfferTwoInOneFrame() {
      cp.autoStart = false; // the jobs stay accepted: nothing else is sent about them
      const agent = await startAgent(2);
      await waitFor(() => agent.connection.status === 'pending', 'the pending status');
      const first = cp.offer().payload;
      const second = cp.offer().payload;
      cp.status = 'approved';
      cp.broadcastFrame([cp.statusEnvelope('approved'), cp.offersEnvelope([first, second])]);
      await waitFor(() => cp.sent('agent.job.accept').length === 2, 'both accepts');
      return { agent, first, second };
    }

    it('handles every message of an array frame in order: approved first, so both offers of a server.job.offers are accepted', async () => {
      const { agent, first, second } = await approveAndOfferTwoInOneFrame();
      expect(agent.connection.status).toBe('approved');
      expect(cp.sent('agent.job.accept')).toEqual([
        { type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: first.jobId, attempt: 1 },
        { type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: second.jobId, attempt: 1 },
      ]);
      expect(cp.sent('agent.job.refuse')).toEqual([]);
      expect(agent.jobs.ledger.get(first.jobId)?.state).toBe('accepted');
      expect(agent.jobs.ledger.get(second.jobId)?.state).toBe('accepted');
    });

    it('sends the two accepts it makes at one moment in a single array frame', async () => {
      const { first, second } = await approveAndOfferTwoInOneFrame();
      const withAccepts = cp.frames.filter((f) => f.includes('agent.job.accept'));
      expect(withAccepts).toHaveLength(1);
      expect(JSON.parse(withAccepts[0])).toEqual([
        { type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: first.jobId, attempt: 1 },
        { type: 'agent.job.accept', v: PROTOCOL_VERSION, jobId: second.jobId, attempt: 1 },
      ]);
    });
  });
});
