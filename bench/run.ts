// npm run bench [-- --json] [-- --quick] [-- --only=dispatch,throughput,fairness,health,deploy,idle,reconnect,held] [-- --verbose]:
// measures the control plane against simulated agents that speak the real protocol. Prints a
// table, or with --json one JSON object on the last line.
import { Client } from 'pg';
import { Bench, freePort, startDatabase } from './node';
import { type BenchOptions, sizesFor } from './options';
import type { Phase, TableRow } from './phase';
import { deployPhase } from './phases/deploy';
import { dispatchPhase } from './phases/dispatch';
import { fairnessPhase } from './phases/fairness';
import { healthPhase } from './phases/health';
import { heldPhase } from './phases/held';
import { idlePhase } from './phases/idle';
import { reconnectPhase } from './phases/reconnect';
import { throughputPhase } from './phases/throughput';

/** Every phase, in the order they run: their rows of the table and keys of the JSON come in this order too. */
const PHASES: readonly Phase<unknown>[] = [dispatchPhase, throughputPhase, fairnessPhase, healthPhase, deployPhase, idlePhase, reconnectPhase, heldPhase];

const names = PHASES.map((p) => p.name);
const quick = process.argv.includes('--quick');
const options: BenchOptions = { json: process.argv.includes('--json'), quick, verbose: process.argv.includes('--verbose'), sizes: sizesFor(quick, process.env) };
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const only = new Set<string>(onlyArg ? onlyArg.split(',') : names);
// --connections-only: the phases without work, as before --only existed.
if (process.argv.includes('--connections-only')) ['dispatch', 'throughput', 'fairness', 'deploy'].forEach((p) => only.delete(p));
for (const p of only) if (!names.includes(p)) throw new Error(`--only takes ${names.join(', ')}; got "${p}"`);

async function main() {
  const database = await startDatabase();
  const db = new Client({ connectionString: database.url });
  const bench = new Bench(db, database.url, await freePort(), options);
  const selected = PHASES.filter((p) => only.has(p.name));
  const results = new Map<Phase<unknown>, unknown>();
  try {
    bench.say(`starting a control plane on ${database.embedded ? 'an embedded' : 'the given'} PostgreSQL (${database.server})`);
    await bench.start();
    await db.connect();
    // The work phases' agents are seeded on every run, so each meets the same agents table whatever
    // --only picks; the fleet's thousands only when a phase that connects them runs.
    await bench.seed(Math.max(...PHASES.filter((p) => !p.usesFleet || only.has(p.name)).map((p) => p.agents(options.sizes))));
    for (const phase of selected) {
      // Only phases that share the fleet run with it connected.
      if (!phase.usesFleet) await bench.stopAgents();
      results.set(phase, await phase.run(bench));
    }
    await bench.stopAgents();
    if (options.json) process.stdout.write(`${JSON.stringify(Object.fromEntries(PHASES.map((p) => [p.key, results.get(p) ?? null])))}\n`);
    else printTable(PHASES.flatMap((p) => p.rows(results.get(p) ?? null, options.sizes)));
  } finally {
    await bench.stopAgents();
    await bench.node?.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
    await database.stop();
  }
}

function printTable(rows: TableRow[]) {
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length), ['measure', 'result', 'goal'][i].length));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  process.stdout.write(`\n${line(['measure', 'result', 'goal'])}\n|${w.map((n) => '-'.repeat(n + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
