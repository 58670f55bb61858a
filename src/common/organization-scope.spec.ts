import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// Every organisation-scoped read or write in a repository names the organisation, so a missing
// check fails closed. The statements below are the exceptions, each with why it may cross
// organisations: the engine serves the agents of every organisation on one node, by the ids of
// agents whose signatures it verified or of jobs it already holds, never by what a user sent.
const SCOPED_TABLES = [
  'tasks',
  'jobs',
  'log_chunks',
  'agents',
  'enrollment_tokens',
  'api_keys',
  'audit_events',
  'invitations',
  'memberships',
  'environments',
  'lifecycles',
  'projects',
  'process_versions',
  'releases',
  'deployments',
  'deployment_steps',
  'deployment_targets',
  'interruptions',
];
const SCOPED_ENTITIES = [
  'Task',
  'Job',
  'Agent',
  'EnrollmentToken',
  'ApiKey',
  'AuditEvent',
  'Invitation',
  'Membership',
  'Environment',
  'Lifecycle',
  'Project',
  'ProcessVersion',
  'Release',
  'Deployment',
  'DeploymentStep',
  'DeploymentTarget',
  'Interruption',
];

const ACROSS_ORGANISATIONS: Record<string, Record<string, string>> = {
  'agents/agents.repository.ts': {
    findStandings: 'agents by the ids their verified signatures name',
    findByPublicKey: 'an enrolling or signing agent is known by its key, before any organisation is',
    markDisconnected: 'presence of agents this node authenticated',
    recordError: 'an authenticated agent’s own last error',
    clearNodeConnections: 'presence of a node’s agents',
    countAllByStatus: 'cluster-wide metrics, counts only',
  },
  'agents/enrollment-tokens.repository.ts': { findByHashForUpdate: 'a token is known by its hash before any organisation is' },
  'auth/api-keys.repository.ts': { touch: 'the key the guard just resolved' },
  'nodes/nodes.repository.ts': { heartbeat: 'releases the agents of nodes that died, whatever their organisation' },
  'orgs/memberships.repository.ts': { findFirstForUser: 'the user logging in, before an organisation is chosen' },
  'tasks/job-logs.repository.ts': {
    appendLog: 'a job already locked by its path',
  },
  'tasks/jobs.repository.ts': {
    findCancelRequested: 'jobs of agents this node authenticated',
    agentsWithClaimableJobs: 'the cluster-wide backstop behind NOTIFY',
    lockJobs: 'jobs of the agent that reported on them (ids and agent checked together)',
    lockJob: 'the sweeper’s own rows, from its cluster-wide scan',
    accept: 'jobs of the agent that reported on them (ids and agent checked together)',
    finish: 'jobs of the agent that reported on them (ids and agent checked together)',
    end: 'a job already locked by its path',
    renewLeases: 'jobs of the agent that heartbeats (ids and agent checked together)',
    requeueOffer: 'a job already locked by its path',
    expireOffers: 'the cluster-wide sweep of lapsed offers',
    findLapsedLeases: 'the cluster-wide sweep of lapsed leases',
    graceLeasesAfterOutage: 'the cluster-wide grace after every node was down',
    findUndelivered: 'the cluster-wide sweep of undeliverable jobs',
    retry: 'a job already locked by the sweeper',
    markLost: 'a job already locked by the sweeper',
    findFinished: 'jobs the same transaction just ended',
    countActive: 'cluster-wide metrics, counts only',
    release: 'tasks the same transaction just handed a concurrency key to',
  },
  'deployments/deployments.repository.ts': {
    findByTasks: 'deployments of tasks the engine just moved, in its hook',
  },
  // secret_keys is not organisation-scoped: one set of data keys seals every organisation's values.
  'secrets/secret-keys.repository.ts': {
    all: 'the cluster-wide data keys (secret_keys), loaded by every node',
    insertFirst: 'the cluster-wide first data key',
    insert: 'a cluster-wide data key, added by a rotation',
    retireAllBut: 'the cluster-wide data keys, retired by a rotation',
    liveNodes: 'the control-plane nodes a rotation waits for',
  },
  'secrets/sealed-values.repository.ts': {
    findNotUnder: 'the rotation (an operator’s command) re-encrypts every sealed value, whatever its organisation; nothing leaves it',
    replace: 'the rotation writes back the values it read, re-encrypted with the same associated data',
    countByKey: 'counts per key only, for npm run secrets -- status',
  },
  'tasks/tasks.repository.ts': {
    settle: 'tasks whose jobs the same transaction just moved',
    settling: 'tasks whose jobs the same statement or transaction just moved',
    handOver: 'a task the same transaction just finished',
    finishedSummaries: 'tasks the same transaction just finished, for the metrics log',
  },
};

/** Statements (SQL text, or TypeORM `where` objects) of each method of a repository file. */
function statements(source: string): { method: string; text: string }[] {
  const found: { method: string; text: string }[] = [];
  const methods = [...source.matchAll(/^(?: {2}(?:async )?|(?:export )?function )(\w+)\(/gm)].map((m) => ({ name: m[1], at: m.index }));
  const methodAt = (at: number) => methods.filter((m) => m.at < at).at(-1)?.name ?? '(top level)';
  for (const m of source.matchAll(/`([^`]*)`/g)) if (/\b(SELECT|UPDATE|DELETE|INSERT)\b/.test(m[1])) found.push({ method: methodAt(m.index), text: m[1] });
  for (const m of source.matchAll(/\.(?:findOne|find|findBy|update|delete)\((\w+), \{ where: \{([^}]*)\}/g)) found.push({ method: methodAt(m.index), text: `entity ${m[1]} where ${m[2]}` });
  return found;
}

function unscoped(text: string): boolean {
  const sqlTable = new RegExp(`\\b(FROM|JOIN|UPDATE|INTO)\\s+(${SCOPED_TABLES.join('|')})\\b`).test(text);
  const entity = new RegExp(`^entity (${SCOPED_ENTITIES.join('|')}) where`).test(text);
  return (sqlTable || entity) && !/organization_id|organizationId/.test(text);
}

describe('organisation scope of repository statements', () => {
  const root = join(__dirname, '..');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.repository.ts'));

  it('finds the repositories', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('names the organisation in every statement on an organisation-scoped table, except the engine’s listed ones', () => {
    const offenders = files.flatMap((file) =>
      statements(readFileSync(join(root, file), 'utf8'))
        .filter((s) => unscoped(s.text) && !ACROSS_ORGANISATIONS[file]?.[s.method])
        .map((s) => `${file} ${s.method}: ${s.text.replace(/\s+/g, ' ').slice(0, 120)}`),
    );
    expect(offenders).toEqual([]);
  });

  it('notices a statement that forgets the organisation', () => {
    const source = 'class R {\n  findInOrganization(id: string) {\n    return this.db.query(`SELECT * FROM tasks WHERE id = $1`, [id]);\n  }\n}';
    expect(statements(source).filter((s) => unscoped(s.text))).toEqual([{ method: 'findInOrganization', text: 'SELECT * FROM tasks WHERE id = $1' }]);
    expect(statements('  get(id) {\n    return em.findOne(Agent, { where: { id } });\n  }').filter((s) => unscoped(s.text))).toHaveLength(1);
  });
});
