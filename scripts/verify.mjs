// `npm run verify [-- --long]`: the verify suite (test/verify/*.e2e-spec.ts) against the built
// control plane. The short form is what the normal e2e run does too; `--long` (or VERIFY_LONG=1)
// runs many more cases. Other arguments go to jest. Results: verify-results/*.json. The soak
// (test/verify/soak.e2e-spec.ts) runs only with --soak: `npm run soak` is its own command.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const long = args.includes('--long');
const soak = args.includes('--soak');
const env = { ...process.env, ...(long ? { VERIFY_LONG: '1' } : {}) };
const jest = ['jest', 'test/verify/', '--selectProjects', 'e2e', ...(soak ? [] : ['--testPathIgnorePatterns', 'soak']), ...args.filter((a) => a !== '--long' && a !== '--soak')];
const result = spawnSync('npx', jest, { stdio: 'inherit', env });
process.exit(result.status ?? 1);
