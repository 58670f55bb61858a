import type { EntityManager } from 'typeorm';
import { accept, claim, end, finish, makeApprovedAgent, makeOrganization, makeTask, type Medium, NODE_ID, OFFER_SECONDS, openMedium, taskRow } from '../helpers/medium';

// The engine's hot statements look agents up by key in an organisation of 10,000 of them. A
// statement PostgreSQL can only run by scanning every agent (as the creation's target check once
// did: 14 ms per task, the main cause of a dispatch regression) fails here, not only in the bench.

const AGENTS = 10_000;

interface Sent {
  name: string;
  text: string;
  values: unknown[];
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode): string[] {
  const own = node['Node Type'] === 'Seq Scan' && node['Relation Name'] ? [node['Relation Name']] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

describe('query plans in a big organisation', () => {
  let m: Medium;
  let org: string;
  const sent: Sent[] = [];

  beforeAll(async () => {
    m = await openMedium();
    org = await makeOrganization(m);
    await m.dataSource.query(
      `INSERT INTO agents (organization_id, name, hostname, os, arch, agent_version, public_key, fingerprint, verification_code, status)
       SELECT $1, 'bulk-' || n, 'bulk-' || n, 'linux', 'x64', '1.0.0', md5('key' || n), md5('fingerprint' || n), '000000', 'approved' FROM generate_series(1, $2) AS n`,
      [org, AGENTS],
    );
    await m.dataSource.query('ANALYZE agents');
    // Every statement the repositories send from here on, to be explained with its own values.
    const { query, queryIn } = m.sql;
    m.sql.query = ((name: string, text: string, values: unknown[], ...rest: unknown[]) => {
      sent.push({ name, text, values });
      return (query as (...args: unknown[]) => unknown).call(m.sql, name, text, values, ...rest);
    }) as typeof m.sql.query;
    m.sql.queryIn = ((em: EntityManager, name: string, text: string, values: unknown[]) => {
      sent.push({ name, text, values });
      return queryIn.call(m.sql, em, name, text, values);
    }) as typeof m.sql.queryIn;
  }, 60_000);
  afterAll(() => m?.close());

  it('creates, offers, accepts and finishes jobs without scanning the agents table', async () => {
    const [here, elsewhere] = [await makeApprovedAgent(m, org), await makeApprovedAgent(m, org)];
    // Created with its agent on a WebSocket here (offered at once), and created to wait for a claim.
    const offered = await m.tasks.insertMany(null, [taskRow(org, [here])], {
      agentIds: [here],
      maxJobs: [4],
      runningLimits: new Map([[org, 1000]]),
      nodeId: NODE_ID,
      offerSeconds: OFFER_SECONDS,
    });
    const queued = await makeTask(m, org, [elsewhere]);
    const [claimed] = await claim(m, [{ agentId: elsewhere, maxJobs: 4 }]);
    expect(claimed.offers.map((o) => o.id)).toEqual([queued.jobs[0].id]);
    const jobs = [{ id: offered.get(0)!.jobs[0].id, agentId: here }, queued.jobs[0]];
    expect((await accept(m, jobs)).size).toBe(2);
    for (const job of jobs) expect((await finish(m, job.agentId, [end(job.id, 'succeeded')])).finished.has(job.id)).toBe(true);

    const names = [...new Set(sent.map((s) => s.name))];
    expect(names).toEqual(expect.arrayContaining(['corral_insert_tasks', 'corral_claim_offers', 'corral_accept_jobs', 'corral_finish_jobs', 'corral_settle_tasks']));
    const scans: string[] = [];
    for (const s of sent) {
      const [{ 'QUERY PLAN': plan }] = await m.dataSource.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(`EXPLAIN (FORMAT JSON) ${s.text}`, s.values);
      for (const table of seqScans(plan[0].Plan)) if (table === 'agents') scans.push(`${s.name} scans ${table}`);
    }
    expect(scans).toEqual([]);
  });
});
