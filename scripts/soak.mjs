// `npm run soak [-- --minutes N]`: the soak (test/verify/soak.e2e-spec.ts), faults injected under
// load for N minutes (default 2, the form the normal e2e run uses), then the history checked.
// Other arguments go to jest. Results: verify-results/soak.json, logs in verify-results/soak-logs/.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--minutes');
const minutes = at === -1 ? (process.env.SOAK_MINUTES ?? '2') : args[at + 1];
if (!/^\d+(\.\d+)?$/.test(minutes ?? '') || Number(minutes) <= 0) {
  process.stderr.write(`--minutes needs a positive number of minutes, got ${JSON.stringify(minutes ?? null)}\n`);
  process.exit(2);
}
const rest = at === -1 ? args : [...args.slice(0, at), ...args.slice(at + 2)];
const env = { ...process.env, SOAK_MINUTES: minutes };
const jest = ['jest', 'test/verify/soak.e2e-spec.ts', '--selectProjects', 'e2e', ...rest];
const result = spawnSync('npx', jest, { stdio: 'inherit', env });
process.exit(result.status ?? 1);
