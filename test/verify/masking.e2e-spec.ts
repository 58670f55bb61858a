import fc from 'fast-check';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { sensitiveForms, StreamMasker } from '../../src/protocol/masking';
import { removeTempDirs, runApprovedAgent, stopAllAgents, tempDir } from '../helpers/agent-process';
import { type ControlPlaneProcess, ROOT, startControlPlane, waitFor } from '../helpers/control-plane-process';
import { signUp, type SignedUp } from '../helpers/factories';
import { HttpClient } from '../helpers/http-client';
import { createTestDatabase } from '../helpers/test-database';

// The masking part of the verify suite (docs/masking.md), end to end: a real control plane and a
// real agent run scripts that print random secrets (the task's sensitiveValues) in every covered
// form, each print cut into separate writes (separate `cat` processes: no sleeps) that land on
// stdout and stderr in turn. What is stored, read through the API and straight from the database,
// holds no secret and no covered form. A fixed seed in CI (VERIFY_SEED replays another); the long
// form (`npm run verify -- --long`, VERIFY_LONG=1) runs many more jobs. Totals: verify-results/masking.json.
const LONG = process.env.VERIFY_LONG === '1';
const SEED = Number(process.env.VERIFY_SEED ?? 20_170_417);
const JOBS = LONG ? 100 : 12;
const MIN_ENCODED_FORM = 8; // masking.ts: shorter base64 and hex forms are not masked

const b64 = (bytes: Buffer) => bytes.toString('base64');
const urlSafe = (b: string) => b.replaceAll('+', '-').replaceAll('/', '_');

function printedForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const uri = encodeURIComponent(secret);
  const forms = [
    secret,
    b64(bytes),
    b64(bytes).replace(/=+$/, ''),
    urlSafe(b64(bytes)),
    urlSafe(b64(bytes)).replace(/=+$/, ''),
    uri,
    uri.replaceAll('%20', '+'),
    JSON.stringify(secret).slice(1, -1),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
  ];
  return forms.filter((f, i) => [0, 5, 6, 7].includes(i) || f.length >= MIN_ENCODED_FORM);
}

// What the API takes: 4 to 4,096 characters each (it counts a surrogate pair as one; here at most
// 4,096 bytes), so no U+0000 (PostgreSQL keeps it as U+FFFD) and no variation selectors (they do not count).
const char = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !['\u0000', '\uFE0E', '\uFE0F'].includes(c)) },
  { weight: 2, arbitrary: fc.constantFrom('a', 'b', '=', '+', '/', '%', '"', '\\', ' ', '\n', '\r\n', '\t', 'é', '€', '😀', '漢') },
);
function toBytes(s: string, max: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}
const secret = fc
  .oneof({ weight: 3, arbitrary: fc.integer({ min: 4, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 41, max: 4096 }) })
  .chain((n) => fc.array(char, { minLength: n, maxLength: n }))
  .map((cs) => toBytes(cs.join(''), 4096))
  .filter((s) => [...s].length >= 4);

interface Case {
  secrets: string[];
  /** Each stream's output: gaps of random text and whole printed forms. */
  out: Record<'stdout' | 'stderr', string>;
  /** The base64 groups that hold only a secret's bytes, of prints where the secret was inside a longer text. */
  groups: string[];
  /** Where each stream's bytes are cut into separate writes, and whose turn it is. */
  cuts: number[];
  turns: boolean[];
}

const oneCase: fc.Arbitrary<Case> = fc
  .tuple(fc.array(secret, { minLength: 2, maxLength: 4 }), fc.nat(), fc.nat())
  .map(([base, a, b]) => {
    // One secret inside another, and one that runs on from another's second half.
    const of = base[a % base.length];
    const inner = [...of].slice(0, Math.max(4, Math.floor([...of].length / 3))).join('');
    const outer = toBytes(`${base[b % base.length]}${of}`, 4096);
    return [...new Set([...base, inner, outer].filter((s) => [...s].length >= 4))];
  })
  .chain((secrets) =>
    fc.record({
      secrets: fc.constant(secrets),
      prints: fc.array(fc.tuple(fc.nat({ max: secrets.length - 1 }), fc.nat({ max: 10 }), fc.boolean(), fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), {
        minLength: 4,
        maxLength: 12,
      }),
      cuts: fc.array(fc.nat(), { minLength: 10, maxLength: 60 }),
      turns: fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
    }),
  )
  .map(({ secrets, prints, cuts, turns }) => {
    const out = { stdout: '', stderr: '' };
    const groups: string[] = [];
    for (const [i, form, toErr, before, after] of prints) {
      const s = secrets[i];
      const stream = toErr ? 'stderr' : 'stdout';
      const forms = printedForms(s);
      if (form < forms.length) out[stream] += `${before}${forms[form]}${after}\n`;
      else {
        // The base64 of a text that holds the secret: what is masked is its whole groups.
        out[stream] += `${b64(Buffer.from(`${before}${s}${after}`))}\n`;
        const shift = (3 - (Buffer.byteLength(before) % 3)) % 3;
        const bytes = Buffer.from(s);
        const whole = b64(bytes.subarray(shift, shift + Math.floor((bytes.length - shift) / 3) * 3));
        if (whole.length >= MIN_ENCODED_FORM) groups.push(whole);
      }
    }
    return { secrets, out, groups, cuts, turns };
  });

/** Writes each piece to its own file and a script that `cat`s them in turn, stdout and stderr interleaved. */
const summary = { form: LONG ? 'long' : 'short', seed: SEED, jobs: 0, secrets: 0, writes: 0, outputBytes: 0, durationMs: 0 };

function scriptFor(c: Case): string {
  const dir = tempDir('corral-masking-');
  const pieces = (['stdout', 'stderr'] as const).map((stream) => {
    const bytes = Buffer.from(c.out[stream], 'utf8');
    // Cut anywhere, inside a character's bytes too: the agent decodes each stream on its own.
    const at = [...new Set(c.cuts.map((n) => n % (bytes.length + 1)))].sort((x, y) => x - y);
    return [...at, bytes.length].map((end, i) => bytes.subarray(i ? at[i - 1] : 0, end)).filter((p) => p.length);
  });
  const lines: string[] = [];
  let n = 0;
  for (let t = 0; pieces[0].length || pieces[1].length; t++) {
    const s = !pieces[0].length ? 1 : !pieces[1].length ? 0 : c.turns[t % c.turns.length] ? 1 : 0;
    const file = join(dir, String(n++));
    writeFileSync(file, pieces[s].shift()!);
    lines.push(`cat '${file}'${s ? ' >&2' : ''}`);
  }
  summary.writes += n;
  summary.outputBytes += Buffer.byteLength(c.out.stdout) + Buffer.byteLength(c.out.stderr);
  summary.secrets += c.secrets.length;
  // The shell's own tools print some too.
  const file = join(dir, 'secret');
  writeFileSync(file, c.secrets[0]);
  lines.push(`base64 -w0 < '${file}'; echo`, `od -An -v -tx1 < '${file}' | tr -d ' \\n'; echo`);
  return lines.join('\n');
}

function leaks(text: string, c: Case): string[] {
  const forms = [...new Set([...c.secrets.flatMap((s) => [...printedForms(s), ...sensitiveForms(s)]), ...c.groups])];
  return forms.filter((f) => text.includes(f)).map((f) => `${JSON.stringify(f.slice(0, 60))}${f.length > 60 ? '…' : ''}`);
}

afterEach(() => stopAllAgents());
afterAll(() => {
  removeTempDirs();
  mkdirSync(join(ROOT, 'verify-results'), { recursive: true });
  writeFileSync(join(ROOT, 'verify-results', 'masking.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(
    `verify/masking (${summary.form} form, seed ${SEED}): ${summary.jobs} jobs, ${summary.secrets} secrets, ${summary.writes} writes, ${summary.outputBytes} bytes in ${(summary.durationMs / 1000).toFixed(1)} s\n`,
  );
});

describe(`masking end to end, real control plane and agent (seed ${SEED}, ${JOBS} jobs)`, () => {
  let db: { url: string; drop: () => Promise<void> };
  let pg: Client;
  let cp: ControlPlaneProcess;
  let owner: SignedUp;
  let agentId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    cp = await startControlPlane({ DATABASE_URL: db.url, JOB_REQUERY_SECONDS: '1' });
    owner = await signUp({ client: () => new HttpClient(cp.url) });
  });
  afterAll(async () => {
    await pg?.end();
    await cp?.stop();
    await db?.drop();
  });

  it(
    'stores no secret and no covered form of one, whatever the writes and the streams',
    async () => {
      const name = `masking-${SEED}`;
      await runApprovedAgent(owner, cp.url, name, { environments: [], roles: [] });
      agentId = (await owner.client.get('/api/v1/agents')).body.items.find((a: { name: string }) => a.name === name).id;
      const started = Date.now();
      const cases = fc.sample(oneCase, { seed: SEED, numRuns: JOBS });
      for (const [i, c] of cases.entries()) {
        const res = await owner.client.post('/api/v1/tasks', {
          name: `masking ${i}`,
          targets: { agentIds: [agentId] },
          script: { syntax: 'bash', body: scriptFor(c) },
          sensitiveValues: c.secrets,
        });
        expect([res.status, res.text.slice(0, 200)]).toEqual([201, expect.anything()]);
        const taskId: string = res.body.id;
        const done = await waitFor(`task ${i} to end`, async () => {
          const t = await owner.client.get(`/api/v1/tasks/${taskId}`);
          return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(t.body.state) ? t.body : undefined;
        });
        expect(done.state).toBe('succeeded');

        const log = (await owner.client.get(`/api/v1/tasks/${taskId}/log`)).text;
        const rows: { stream: string; text: string }[] = (await pg.query(`SELECT stream, text FROM log_chunks WHERE task_id = $1 ORDER BY attempt, seq`, [taskId])).rows;
        const jobs = (await pg.query(`SELECT mask_carry::text AS carry, secrets FROM jobs WHERE task_id = $1`, [taskId])).rows;
        const context = `case ${i} (seed ${SEED}); secrets ${JSON.stringify(c.secrets.map((s) => s.slice(0, 20)))}`;
        expect({ context, api: leaks(log, c), rows: leaks(rows.map((r) => r.text).join('\n'), c), jobs: leaks(JSON.stringify(jobs), c) }).toEqual({ context, api: [], rows: [], jobs: [] });

        // Each stream is stored as masking the whole of it at once gives, wherever it was cut.
        for (const stream of ['stdout', 'stderr'] as const) {
          const masker = new StreamMasker(c.secrets);
          const bytes = Buffer.from(c.secrets[0]);
          const printed = stream === 'stdout' ? `${c.out.stdout}${b64(bytes)}\n${bytes.toString('hex')}\n` : c.out.stderr;
          const expected = masker.push(printed) + masker.flush();
          const stored = rows
            .filter((r) => r.stream === stream)
            .map((r) => r.text)
            .join('');
          expect({ context, stream, stored }).toEqual({ context, stream, stored: expected });
        }
        expect(jobs).toEqual([{ carry: '{}', secrets: [] }]);
        summary.jobs++;
      }
      summary.durationMs = Date.now() - started;
    },
    LONG ? 900_000 : 60_000,
  );
});
