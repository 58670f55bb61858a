import { readFileSync } from 'node:fs';
import type { Api } from '../api';
import { UsageError } from '../args';
import { type Command, type Context, EXIT } from '../command';
import { followLog, prefixed } from '../follow';
import { table } from '../output';
import type { Deployment } from '../../../src/protocol/api-schema';
import { findProject, findRelease } from '../resolve';

type Step = Deployment['steps'][number];
type Target = Step['targets'][number];
/** What says how a deployment ended. */
export interface Outcome {
  state: Deployment['state'];
  steps: (Pick<Step, 'name' | 'state' | 'reason'> & { targets: (Pick<Target, 'state' | 'exitCode' | 'reason'> & { agent: { name: string } })[] })[];
}

const FINISHED = ['succeeded', 'failed', 'cancelled'];

function notes(ctx: Context): string | undefined {
  const text = ctx.flags.string('notes');
  const file = ctx.flags.string('notes-file');
  if (text !== undefined && file !== undefined) throw new UsageError('give --notes or --notes-file, not both');
  if (file === undefined) return text;
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --notes-file ${file}: ${(err as Error).message}`);
  }
}

export const releaseCreate: Command = {
  path: ['release', 'create'],
  summary: 'create a release of a project (the next version unless --version)',
  usage: 'corral release create --project PROJECT [--version VERSION] [--notes TEXT | --notes-file FILE]',
  flags: { project: { value: true }, version: { value: true }, notes: { value: true }, 'notes-file': { value: true } },
  async run(ctx) {
    const project = await findProject(ctx.api(), ctx.flags.required('project', 'Shop'));
    const api = ctx.api();
    const release = await api.ok(api.client.POST('/api/v1/projects/{id}/releases', { params: { path: { id: project.id } }, body: { version: ctx.flags.string('version'), notes: notes(ctx) } }));
    ctx.out.result(release, () => `created release ${release.version} of ${project.name} (${release.id})`);
    return EXIT.ok;
  },
};

export const releaseList: Command = {
  path: ['release', 'list'],
  summary: "a project's releases, newest first",
  usage: 'corral release list --project PROJECT',
  flags: { project: { value: true } },
  async run(ctx) {
    const api = ctx.api();
    const project = await findProject(api, ctx.flags.required('project', 'Shop'));
    const releases = await api.ok(api.client.GET('/api/v1/projects/{id}/releases', { params: { path: { id: project.id } } }));
    ctx.out.result(releases, () =>
      table(
        ['VERSION', 'CREATED', 'BY', 'ID'],
        releases.map((r) => [r.version, r.createdAt, r.createdBy, r.id]),
      ),
    );
    return EXIT.ok;
  },
};

export const releaseDeploy: Command = {
  path: ['release', 'deploy'],
  summary: 'deploy a release to an environment; with --wait, follow it and exit 0 only on success',
  usage:
    'corral release deploy --project PROJECT [--version VERSION] --to ENVIRONMENT [--variable NAME=VALUE]... [--skip-step STEP]... [--exclude-agent AGENT]... [--guided-failure] [--wait [--timeout SECONDS]]',
  flags: {
    project: { value: true },
    version: { value: true },
    to: { value: true },
    variable: { value: true, repeat: true },
    'skip-step': { value: true, repeat: true },
    'exclude-agent': { value: true, repeat: true },
    'guided-failure': {},
    wait: {},
    timeout: { value: true },
  },
  async run(ctx) {
    const environment = ctx.flags.required('to', 'Production');
    const variables = ctx.flags.pairs('variable');
    const timeout = ctx.flags.integer('timeout', 1, 7 * 24 * 3600);
    if (timeout !== undefined && !ctx.flags.has('wait')) throw new UsageError('--timeout is how long --wait waits: give --wait too');
    const api = ctx.api();
    const project = await findProject(api, ctx.flags.required('project', 'Shop'));
    const release = await findRelease(api, project, ctx.flags.string('version'));
    const created = await api.ok(
      api.client.POST('/api/v1/releases/{id}/deployments', {
        params: { path: { id: release.id } },
        body: {
          environment,
          ...(Object.keys(variables).length ? { variables } : {}),
          ...(ctx.flags.has('guided-failure') ? { guidedFailure: true } : {}),
          ...(ctx.flags.list('skip-step').length ? { skipSteps: ctx.flags.list('skip-step') } : {}),
          ...(ctx.flags.list('exclude-agent').length ? { excludeAgents: ctx.flags.list('exclude-agent') } : {}),
        },
      }),
    );
    ctx.out.progress(`deploying ${project.name} ${release.version} to ${environment}: ${api.settings.url}/deployments/${created.id}`);
    if (!ctx.flags.has('wait')) {
      ctx.out.result(created, () => created.id);
      return EXIT.ok;
    }
    const d = await waitForDeployment(ctx, created.id, timeout);
    return d && d.state === 'succeeded' ? EXIT.ok : EXIT.failed;
  },
};

const getDeployment = (api: Api, id: string) => api.ok(api.client.GET('/api/v1/deployments/{id}', { params: { path: { id } } }));

/** Streams the deployment's log until it ends; says why when it did not succeed. */
async function waitForDeployment(ctx: Context, id: string, timeoutSeconds: number | undefined): Promise<Deployment | null> {
  const api = ctx.api();
  const told = new Set<string>();
  const tellPauses = async () => {
    const d = await getDeployment(api, id);
    for (const i of d.interruptions) {
      if (i.answer || told.has(i.id)) continue;
      told.add(i.id);
      ctx.out.progress(`paused (${i.kind})${i.instructions ? `: ${i.instructions}` : ''}; ${i.actions.join(', ')} in the console: ${api.settings.url}/deployments/${id}`);
    }
  };
  const how = await followLog(api, `/api/v1/deployments/${id}/log`, {
    onLine: (l) => ctx.out.log(prefixed(`${l.jobName} ${l.agentName} | `, l.text), l.stream),
    tick: tellPauses,
    everyMs: 3_000,
    timeoutMs: timeoutSeconds && timeoutSeconds * 1000,
    onReconnect: (why) => ctx.out.progress(`reconnecting to the log (${why})`),
  });
  const d = await getDeployment(api, id);
  if (how === 'timeout' && !FINISHED.includes(d.state)) {
    ctx.out.progress(`still ${d.state} after ${timeoutSeconds} s; it goes on (cancel it with POST /api/v1/deployments/${id}/cancel)`);
    ctx.out.result(d, () => '');
    return null;
  }
  ctx.out.progress(`deployment ${d.state}${d.state === 'succeeded' ? '' : `: ${failureSummary(d)}`}`);
  ctx.out.result(d, () => '');
  return d;
}

/** Which step failed and where, in one line a pipeline log shows. */
export function failureSummary(d: Outcome): string {
  const failed = d.steps.filter((s) => s.state === 'failed');
  if (!failed.length) return d.state === 'cancelled' ? 'it was cancelled' : 'no step failed';
  return failed
    .map((s) => {
      const where = s.targets.filter((t) => t.state === 'failed').map((t) => `${t.agent.name}${t.exitCode !== null ? ` with exit code ${t.exitCode}` : ''}${t.reason ? ` (${t.reason})` : ''}`);
      return `step "${s.name}" failed${where.length ? ` on ${where.join(', ')}` : s.reason ? ` (${s.reason})` : ''}`;
    })
    .join('; ');
}

export const deploymentsList: Command = {
  path: ['deployments', 'list'],
  summary: 'recent deployments, newest first',
  usage: 'corral deployments list [--project PROJECT] [--environment ENVIRONMENT] [--state STATE] [--limit N]',
  flags: { project: { value: true }, environment: { value: true }, state: { value: true }, limit: { value: true } },
  async run(ctx) {
    const api = ctx.api();
    const wanted = ctx.flags.string('project');
    const project = wanted === undefined ? undefined : await findProject(api, wanted);
    const query = {
      projectId: project?.id,
      environment: ctx.flags.string('environment'),
      state: ctx.flags.string('state') as Deployment['state'] | undefined,
      limit: ctx.flags.integer('limit', 1, 200),
    };
    const list = await api.ok(api.client.GET('/api/v1/deployments', { params: { query } }));
    ctx.out.result(list, () =>
      table(
        ['PROJECT', 'RELEASE', 'ENVIRONMENT', 'STATE', 'CREATED', 'ID'],
        list.map((d) => [d.project.name, d.release.version, d.environment.name, d.state, d.createdAt, d.id]),
      ),
    );
    return EXIT.ok;
  },
};

export const deploymentsShow: Command = {
  path: ['deployments', 'show'],
  summary: 'one deployment: its steps and where each ran',
  usage: 'corral deployments show DEPLOYMENT_ID',
  flags: {},
  async run(ctx) {
    const [id] = ctx.words;
    if (!id || ctx.words.length > 1) throw new UsageError('name one deployment by its id');
    const d = await getDeployment(ctx.api(), id);
    ctx.out.result(d, () =>
      [
        `${d.project.name} ${d.release.version} to ${d.environment.name}: ${d.state}`,
        table(
          ['STEP', 'AGENT', 'STATE', 'EXIT', 'WHY'],
          d.steps.flatMap((s) => (s.targets.length ? s.targets.map((t) => [s.name, t.agent.name, t.state, t.exitCode, t.reason]) : [[s.name, null, s.state, null, s.reason]])),
        ),
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
