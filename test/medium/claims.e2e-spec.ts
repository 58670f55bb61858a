import {
  accept,
  claim,
  end,
  finish,
  itMovedRowsOnlyAlongTheTables,
  jobRow,
  lapse,
  leaseLeft,
  makeApprovedAgent,
  makeOrganization,
  makeTask,
  type Medium,
  NODE_ID,
  OFFER_SECONDS,
  openMedium,
  taskRow,
  within,
} from '../helpers/medium';

// Claims and offers: JobsRepository.claimOffers, expireOffers and requeueOffer against a real
// PostgreSQL, several at once where it matters.
describe('claims and offers', () => {
  let m: Medium;
  let org: string;

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
  });
  afterAll(() => m?.close());

  /** `n` one-job tasks for each agent, each task in its own transaction (so each is younger than the last). */
  async function queueJobs(agents: string[], n: number): Promise<Map<string, string[]>> {
    const byAgent = new Map<string, string[]>(agents.map((a) => [a, []]));
    for (let i = 0; i < n; i++) {
      const task = await makeTask(m, org, agents);
      for (const job of task.jobs) byAgent.get(job.agentId)!.push(job.id);
    }
    return byAgent;
  }

  /** Makes every claim statement hold its row locks (uncommitted) for a moment before it ends, so claims sent together really overlap. */
  async function withSlowClaims<T>(work: () => Promise<T>): Promise<T> {
    await m.dataSource.query(`CREATE FUNCTION medium_pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$`);
    await m.dataSource.query(`CREATE TRIGGER medium_pause AFTER UPDATE ON jobs FOR EACH STATEMENT EXECUTE FUNCTION medium_pause()`);
    try {
      return await work();
    } finally {
      await m.dataSource.query(`DROP TRIGGER medium_pause ON jobs`);
      await m.dataSource.query(`DROP FUNCTION medium_pause()`);
    }
  }

  it('offers no more than a capped claim allows, and tells the cap as its room', async () => {
    const agent = await makeApprovedAgent(m, org);
    const jobs = (await queueJobs([agent], 4)).get(agent)!;
    const [capped] = await claim(m, [{ agentId: agent, maxJobs: 8, cap: 2 }]);
    expect(capped.room).toBe(2);
    expect(capped.offers.map((o) => o.id)).toEqual(jobs.slice(0, 2));
    expect(await claim(m, [{ agentId: agent, maxJobs: 8, cap: 0 }])).toEqual([{ agentId: agent, room: 0, offers: [] }]);
    const [rest] = await claim(m, [{ agentId: agent, maxJobs: 8 }]);
    expect(rest.room).toBe(6);
    expect(rest.offers.map((o) => o.id)).toEqual(jobs.slice(2));
  });

  it('holds an organisation to its running limit across its agents, oldest jobs first, and says so', async () => {
    const limited = await makeOrganization(m);
    const [a, b] = [await makeApprovedAgent(m, limited), await makeApprovedAgent(m, limited)];
    const other = await makeApprovedAgent(m, org);
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++) jobs.push(...(await makeTask(m, limited, [a, b])).jobs.map((j) => j.id));
    const others = (await makeTask(m, org, [other])).jobs.map((j) => j.id);

    // Room for 6, limit 4: the four oldest of the organisation's jobs, whichever agent they are for.
    const claims = await claim(m, [
      { agentId: a, maxJobs: 5, runningLimit: 4 },
      { agentId: b, maxJobs: 5, runningLimit: 4 },
      { agentId: other, maxJobs: 5 },
    ]);
    const of = (agent: string) => claims.find((c) => c.agentId === agent)!;
    expect([...of(a).offers, ...of(b).offers].map((o) => o.id).sort()).toEqual(jobs.slice(0, 4).sort());
    // Kept back: its room is what it got, so it is not taken for drained; another organisation's agent is not held.
    expect(of(a)).toMatchObject({ orgLimited: true, room: of(a).offers.length });
    expect(of(b)).toMatchObject({ orgLimited: true, room: of(b).offers.length });
    expect(of(other)).toEqual({ agentId: other, room: 5, offers: [expect.objectContaining({ id: others[0] })] });

    // At the limit, nothing more; a finished job makes room for one.
    expect((await claim(m, [{ agentId: a, maxJobs: 5, runningLimit: 4 }]))[0]).toMatchObject({ room: 0, offers: [], orgLimited: true });
    const done = of(a).offers[0];
    await accept(m, [{ id: done.id, agentId: a }]);
    await finish(m, a, [end(done.id, 'succeeded')]);
    const [again] = await claim(m, [{ agentId: a, maxJobs: 5, runningLimit: 4 }]);
    expect(again.offers).toHaveLength(1);
  });

  it('offers an agent its oldest claimable jobs, as many as it has room for, and tells the room it had', async () => {
    const agent = await makeApprovedAgent(m, org);
    const jobs = (await queueJobs([agent], 5)).get(agent)!;

    const [first] = await claim(m, [{ agentId: agent, maxJobs: 3 }]);
    expect(first.room).toBe(3);
    expect(first.offers.map((o) => o.id)).toEqual(jobs.slice(0, 3));
    expect(first.offers[0]).toMatchObject({ agentId: agent, attempt: 1, kind: 'script', payload: { script: { syntax: 'sh', body: 'true' } } });
    const offered = await jobRow(m, jobs[0]);
    expect(offered.state).toBe('offered');
    expect(offered.offeredAt).not.toBeNull();
    expect(await leaseLeft(m, jobs[0])).toBeGreaterThan(OFFER_SECONDS - 5);
    expect((await m.dataSource.query(`SELECT offered_by_node FROM jobs WHERE id = $1`, [jobs[0]]))[0].offered_by_node).toBe(NODE_ID);

    // Offered and running jobs both take room; a finished one gives it back.
    expect(await claim(m, [{ agentId: agent, maxJobs: 3 }])).toEqual([{ agentId: agent, room: 0, offers: [] }]);
    await accept(m, [{ id: jobs[0], agentId: agent }]);
    expect(await claim(m, [{ agentId: agent, maxJobs: 3 }])).toEqual([{ agentId: agent, room: 0, offers: [] }]);
    await finish(m, agent, [end(jobs[0], 'succeeded')]);
    const [next] = await claim(m, [{ agentId: agent, maxJobs: 3 }]);
    expect(next.room).toBe(1);
    expect(next.offers.map((o) => o.id)).toEqual([jobs[3]]);
    // More room than jobs: fewer offers than room says nothing more waits.
    const [rest] = await claim(m, [{ agentId: agent, maxJobs: 10 }]);
    expect(rest.room).toBe(7);
    expect(rest.offers.map((o) => o.id)).toEqual([jobs[4]]);
  });

  it('answers each agent of a batch with its own jobs only', async () => {
    const a = await makeApprovedAgent(m, org);
    const b = await makeApprovedAgent(m, org);
    const jobs = await queueJobs([a, b], 2);
    const claims = await claim(m, [
      { agentId: a, maxJobs: 1 },
      { agentId: b, maxJobs: 5 },
    ]);
    const byAgent = new Map(claims.map((c) => [c.agentId, c.offers.map((o) => o.id)]));
    expect(byAgent.get(a)).toEqual([jobs.get(a)![0]]);
    expect(byAgent.get(b)).toEqual(jobs.get(b));
  });

  it('never offers one job twice when several claims for the same agents run at once', async () => {
    const [a, b, c, d] = [await makeApprovedAgent(m, org), await makeApprovedAgent(m, org), await makeApprovedAgent(m, org), await makeApprovedAgent(m, org)];
    const jobs = await queueJobs([a, b, c, d], 6);
    // Every agent is asked for by three of the claims; room is plenty, so only the row locks decide.
    const batches = [
      [a, b],
      [c, d],
      [b, c],
      [d, a],
      [a, c],
      [b, d],
    ];
    // Warm the claims' pool, so the claims below start together rather than one connection apiece.
    await Promise.all(Array.from({ length: 4 }, () => claim(m, [])));
    const claims = await withSlowClaims(() =>
      Promise.all(
        batches.map((agents) =>
          claim(
            m,
            agents.map((agentId) => ({ agentId, maxJobs: 100 })),
          ),
        ),
      ),
    );
    const offers = claims.flat().flatMap((cl) => cl.offers.map((o) => ({ id: o.id, to: cl.agentId, owner: o.agentId })));
    const ids = offers.map((o) => o.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set([...jobs.values()].flat()));
    for (const o of offers) expect(o.owner).toBe(o.to);
    expect(claims.filter((cs) => cs.some((cl) => cl.offers.length > 0)).length).toBeGreaterThan(1);
    for (const id of ids) expect((await jobRow(m, id)).state).toBe('offered');
  });

  // Each claim counts the agent's held jobs in its own snapshot, so claims for one agent that
  // overlap (two nodes, or a claim beside TaskQueue's offers-as-made) each see the same room and
  // together offer more than maxJobs. See the report: the room is not serialised per agent.
  it.failing('keeps to an agent’s room when several claims for it overlap', async () => {
    const agent = await makeApprovedAgent(m, org);
    await queueJobs([agent], 9);
    await Promise.all(Array.from({ length: 4 }, () => claim(m, [])));
    const claims = await withSlowClaims(() => Promise.all(Array.from({ length: 3 }, () => claim(m, [{ agentId: agent, maxJobs: 3 }]))));
    const offered = claims.flat().reduce((n, c) => n + c.offers.length, 0);
    expect(offered).toBeLessThanOrEqual(3);
  });

  it('skips jobs another transaction has locked instead of waiting for them', async () => {
    const agent = await makeApprovedAgent(m, org);
    const jobs = (await queueJobs([agent], 3)).get(agent)!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = m.dataSource.transaction(async (em) => {
      await m.jobs.lockJobs(em, [{ jobId: jobs[0], agentId: agent }]);
      locked();
      await held;
    });
    try {
      await isLocked;
      const result = await within(3000, claim(m, [{ agentId: agent, maxJobs: 2 }]));
      expect(result).not.toBe('timed out');
      if (result === 'timed out') return;
      expect(result[0].offers.map((o) => o.id)).toEqual(jobs.slice(1, 3));
    } finally {
      release();
      await holder;
    }
    expect((await jobRow(m, jobs[0])).state).toBe('queued');
    expect((await claim(m, [{ agentId: agent, maxJobs: 5 }]))[0].offers.map((o) => o.id)).toEqual([jobs[0]]);
  });

  it('offers nothing to an agent that is not approved, nor jobs that wait on a concurrency key or were put off', async () => {
    const revoked = await makeApprovedAgent(m, org);
    const [revokedJob] = (await queueJobs([revoked], 1)).get(revoked)!;
    await m.dataSource.query(`UPDATE agents SET status = 'revoked' WHERE id = $1`, [revoked]);
    expect(await claim(m, [{ agentId: revoked, maxJobs: 5 }])).toEqual([]);
    expect((await jobRow(m, revokedJob)).state).toBe('queued');

    const agent = await makeApprovedAgent(m, org);
    const first = await makeTask(m, org, [agent], { concurrencyKey: 'k' });
    const waiting = await makeTask(m, org, [agent], { concurrencyKey: 'k', blockedBy: first.id });
    expect((await jobRow(m, waiting.jobs[0].id)).ready).toBe(false);
    const [offered] = await claim(m, [{ agentId: agent, maxJobs: 5 }]);
    expect(offered.offers.map((o) => o.id)).toEqual([first.jobs[0].id]);

    // "busy": back to the queue, not offered again before the delay.
    const requeued = await m.dataSource.transaction((em) => m.jobs.requeueOffer(em, first.jobs[0].id, 1, 60));
    expect(requeued).toBe(true);
    const row = await jobRow(m, first.jobs[0].id);
    expect(row).toMatchObject({ state: 'queued', offeredAt: null, leaseExpiresAt: null });
    expect(await claim(m, [{ agentId: agent, maxJobs: 5 }])).toEqual([{ agentId: agent, room: 5, offers: [] }]);
    await m.dataSource.query(`UPDATE jobs SET available_at = now() - interval '1 second' WHERE id = $1`, [first.jobs[0].id]);
    expect((await claim(m, [{ agentId: agent, maxJobs: 5 }]))[0].offers.map((o) => o.id)).toEqual([first.jobs[0].id]);
  });

  it('requeues an offer only while it is offered, for the attempt named', async () => {
    const agent = await makeApprovedAgent(m, org);
    const [job] = (await queueJobs([agent], 1)).get(agent)!;
    await claim(m, [{ agentId: agent, maxJobs: 1 }]);
    expect(await m.dataSource.transaction((em) => m.jobs.requeueOffer(em, job, 2, 0))).toBe(false);
    await accept(m, [{ id: job, agentId: agent }]);
    expect(await m.dataSource.transaction((em) => m.jobs.requeueOffer(em, job, 1, 0))).toBe(false);
    expect((await jobRow(m, job)).state).toBe('running');
  });

  it('returns lapsed offers to the queue, naming their agents, and leaves live offers, running jobs and locked rows alone', async () => {
    const a = await makeApprovedAgent(m, org);
    const b = await makeApprovedAgent(m, org);
    const jobs = await queueJobs([a, b], 4);
    const [a1, a2, a3, a4] = jobs.get(a)!;
    const [b1] = jobs.get(b)!;
    await claim(m, [
      { agentId: a, maxJobs: 4 },
      { agentId: b, maxJobs: 1 },
    ]);
    await accept(m, [{ id: a3, agentId: a }]);
    await lapse(m, [a1, a2, a3, b1]); // a4 keeps a live offer; a3 runs, its lease lapsed (not the offer sweep's business)

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = m.dataSource.transaction(async (em) => {
      await m.jobs.lockJobs(em, [{ jobId: a2, agentId: a }]);
      locked();
      await held;
    });
    let agents: string[] | 'timed out';
    try {
      await isLocked;
      agents = await within(3000, m.jobs.expireOffers());
    } finally {
      release();
      await holder;
    }
    expect(agents).not.toBe('timed out');
    expect([...(agents as string[])].sort()).toEqual([a, b].sort());
    expect(await jobRow(m, a1)).toMatchObject({ state: 'queued', offeredAt: null, leaseExpiresAt: null });
    expect(await jobRow(m, b1)).toMatchObject({ state: 'queued', offeredAt: null, leaseExpiresAt: null });
    expect((await jobRow(m, a2)).state).toBe('offered'); // locked: the next sweep gets it
    expect((await jobRow(m, a3)).state).toBe('running');
    expect((await jobRow(m, a4)).state).toBe('offered');

    expect(await m.jobs.expireOffers()).toEqual([a]);
    expect((await jobRow(m, a2)).state).toBe('queued');
    // Back in the queue, in their old order: offered again first.
    const [again] = await claim(m, [{ agentId: a, maxJobs: 4 }]);
    expect(again.offers.map((o) => o.id)).toEqual([a1, a2]);
  });

  it('counts the jobs TaskQueue offered as they were made, and never offers them again', async () => {
    const agent = await makeApprovedAgent(m, org);
    const inserted = await m.dataSource.transaction((em) =>
      m.tasks.insertMany(em, [taskRow(org, [agent]), taskRow(org, [agent])], {
        agentIds: [agent],
        maxJobs: [1],
        runningLimits: new Map([[org, 1000]]),
        nodeId: NODE_ID,
        offerSeconds: OFFER_SECONDS,
      }),
    );
    const [here, later] = [inserted.get(0)!.jobs[0], inserted.get(1)!.jobs[0]];
    expect([here.state, later.state]).toEqual(['offered', 'queued']);
    expect(await claim(m, [{ agentId: agent, maxJobs: 1 }])).toEqual([{ agentId: agent, room: 0, offers: [] }]);
    const [more] = await claim(m, [{ agentId: agent, maxJobs: 3 }]);
    expect(more.offers.map((o) => o.id)).toEqual([later.id]);
  });

  it('offers jobs as they are made only while their organisation is under its running limit', async () => {
    const limited = await makeOrganization(m);
    const [a, b] = [await makeApprovedAgent(m, limited), await makeApprovedAgent(m, limited)];
    await makeTask(m, limited, [a]);
    await claim(m, [{ agentId: a, maxJobs: 1 }]);
    const inserted = await m.dataSource.transaction((em) =>
      m.tasks.insertMany(em, [taskRow(limited, [a, b]), taskRow(limited, [a, b])], {
        agentIds: [a, b],
        maxJobs: [5, 5],
        runningLimits: new Map([[limited, 3]]),
        nodeId: NODE_ID,
        offerSeconds: OFFER_SECONDS,
      }),
    );
    // One already offered, limit 3: two of the four new jobs, earliest task first.
    const states = [...inserted.values()].flatMap((t) => t.jobs.map((j) => j.state));
    expect(states).toEqual(['offered', 'offered', 'queued', 'queued']);
  });

  itMovedRowsOnlyAlongTheTables(() => m);
});
