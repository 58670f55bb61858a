import { readFileSync } from 'node:fs';
import { UsageError } from '../args';
import { type Command, EXIT } from '../command';
import { followLog, prefixed } from '../follow';
import type { CreateTaskDto } from '../../../src/protocol/api-schema';
import { findAgents } from '../resolve';

type Syntax = CreateTaskDto['script']['syntax'];
const SYNTAXES: readonly Syntax[] = ['bash', 'sh', 'node', 'pwsh'];

export const run: Command = {
  path: ['run'],
  summary: 'run a script on agents and show its output; exit 0 only if it succeeded on every one',
  usage: "corral run --agent AGENT [--agent AGENT]... [--syntax bash|sh|node|pwsh] [--timeout SECONDS] [--name NAME] [--no-wait] (-- 'SCRIPT' | --file FILE)",
  flags: { agent: { value: true, repeat: true }, syntax: { value: true }, timeout: { value: true }, name: { value: true }, file: { value: true }, 'no-wait': {} },
  async run(ctx) {
    const agents = ctx.flags.list('agent');
    if (!agents.length) throw new UsageError('name at least one --agent (by name or id)');
    const syntax = (ctx.flags.string('syntax') ?? 'bash') as Syntax;
    if (!SYNTAXES.includes(syntax)) throw new UsageError(`--syntax must be one of ${SYNTAXES.join(', ')}, not "${syntax}"`);
    const file = ctx.flags.string('file');
    if (file !== undefined && ctx.rest.length) throw new UsageError('give the script after -- or with --file, not both');
    const body = file !== undefined ? readScript(file) : ctx.rest.join(' ');
    if (!body.trim()) throw new UsageError("no script: put it after -- (corral run --agent web-1 -- 'uptime') or give --file");
    if (ctx.words.length) throw new UsageError(`unexpected "${ctx.words[0]}": the script goes after --`);
    const api = ctx.api();
    const targets = await findAgents(api, agents);
    const task = await api.ok(
      api.client.POST('/api/v1/tasks', {
        body: {
          name: ctx.flags.string('name'),
          targets: { agentIds: [...new Set(targets.map((a) => a.id))] },
          script: { syntax, body },
          timeoutSeconds: ctx.flags.integer('timeout', 1, 7 * 24 * 3600),
        },
      }),
    );
    ctx.out.progress(`task ${task.id} on ${targets.map((a) => a.name).join(', ')}`);
    if (ctx.flags.has('no-wait')) {
      ctx.out.result(task, () => task.id);
      return EXIT.ok;
    }
    const many = targets.length > 1;
    await followLog(api, `/api/v1/tasks/${task.id}/log`, {
      onLine: (l) => ctx.out.log(many ? prefixed(`${l.agentName} | `, l.text) : l.text, l.stream),
      onReconnect: (why) => ctx.out.progress(`reconnecting to the log (${why})`),
    });
    const done = await api.ok(api.client.GET('/api/v1/tasks/{id}', { params: { path: { id: task.id } } }));
    const bad = done.jobs.filter((j) => j.state !== 'succeeded');
    for (const j of bad) ctx.out.progress(`${j.agentName}: ${j.state}${j.exitCode !== null ? ` with exit code ${j.exitCode}` : j.message ? ` (${j.message})` : ''}`);
    ctx.out.result(done, () => '');
    return done.state === 'succeeded' ? EXIT.ok : EXIT.failed;
  },
};

function readScript(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --file ${file}: ${(err as Error).message}`);
  }
}
