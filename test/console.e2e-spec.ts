import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { type AgentProcess, newStateDir, removeTempDirs, spawnAgent, stopAllAgents, tempDir } from './helpers/agent-process';
import { type ConsoleBrowser, launchConsoleBrowser } from './helpers/browser';
import { type ControlPlaneProcess, startControlPlane } from './helpers/control-plane-process';
import { PASSWORD, uniqueEmail } from './helpers/factories';
import { createTestDatabase } from './helpers/test-database';

// The web console in real Chromium, against a real control plane and a real agent process:
// what an administrator does on a first day, in order. Each step builds on the one before.

jest.setTimeout(120_000);

const SECOND = 1_000;

async function waitForText(page: Page, text: string | RegExp, timeout = 10 * SECOND) {
  await page.getByText(text).first().waitFor({ state: 'visible', timeout });
}

/** A link of the main navigation. */
function nav(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

/** The state badge inside the page header. */
function headerBadge(page: Page) {
  return page.locator('.page-header h1 .badge');
}

async function waitForHeaderState(page: Page, state: string, timeout = 20 * SECOND) {
  await page.locator(`.page-header h1 .badge[data-status="${state}"]`).waitFor({ timeout });
}

/** Fills the run form and submits it; resolves on the new task's page with its id. */
async function runScript(page: Page, agentName: string, name: string, body: string, concurrencyKey?: string): Promise<string> {
  await nav(page, 'Run a script').click();
  await page.getByRole('checkbox', { name: new RegExp(agentName) }).check();
  await page.getByLabel('Name (optional)').fill(name);
  await page.getByLabel('Shell').selectOption('bash');
  await page.getByLabel('Script', { exact: true }).fill(body);
  if (concurrencyKey) {
    await page.getByText('Advanced').click();
    await page.getByLabel('Concurrency key').fill(concurrencyKey);
  }
  await page.getByRole('button', { name: /^Run on 1 agent$/ }).click();
  await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/);
  await page.getByRole('heading', { level: 1, name: new RegExp(name) }).waitFor();
  return page.url().split('/').pop()!;
}

describe('the web console', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cp: ControlPlaneProcess;
  let browser: ConsoleBrowser;
  let page: Page;
  const email = uniqueEmail('console');
  const agentName = `web-${randomBytes(3).toString('hex')}`;
  let token = '';
  /** The install command the console shows, run on the "server" as it is. */
  let installCommand = '';
  let printedCode = '';
  let runningAgent: AgentProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The console's user runs this control plane too: the Platform page is theirs.
    cp = await startControlPlane({ DATABASE_URL: db.url, JOB_REQUERY_SECONDS: '1', JOB_CANCEL_GRACE_SECONDS: '2', CORRAL_PLATFORM_OPERATORS: email });
    browser = await launchConsoleBrowser();
    page = browser.page;
  });
  afterAll(async () => {
    await browser?.close();
    await stopAllAgents();
    removeTempDirs();
    await cp?.stop();
    await db?.drop();
  });
  afterEach(() => {
    // Any browser console error or uncaught page error fails the step that caused it.
    const problems = browser.problems.splice(0);
    expect(problems).toEqual([]);
  });

  it('serves the console at / with sign-up and log-in; forms show the API errors', async () => {
    const res = await fetch(`${cp.url}/`);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('<div id="root"></div>');
    // Unknown API routes keep their JSON 404; the console's own routes get the page.
    expect((await fetch(`${cp.url}/api/v1/nothing-here`)).status).toBe(404);
    expect((await fetch(`${cp.url}/agents/some-id`)).status).toBe(200);

    await page.goto(`${cp.url}/`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await browser.screenshot('01-landing');

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await browser.expectingRefusal(401, async () => {
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').waitFor();
    });
    expect(await page.getByRole('alert').textContent()).toMatch(/email or password/i);

    await page.getByRole('link', { name: /Sign up/ }).click();
    await page.getByLabel('Organisation name').fill('Console Test Ltd');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('short');
    await browser.expectingRefusal(422, async () => {
      await page.getByRole('button', { name: 'Create organisation' }).click();
      await page.getByRole('alert').waitFor();
    });
    expect(await page.getByRole('alert').textContent()).toContain('password must be');
    await browser.screenshot('02-signup-error');

    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create organisation' }).click();
    await page.getByRole('heading', { name: 'Agents', level: 1 }).waitFor();
    await waitForText(page, 'No agent is waiting for approval');
    expect(await page.locator('.topbar').textContent()).toContain(email);
  });

  it('creates environments, orders them, and refuses a name that is taken', async () => {
    await nav(page, 'Environments').click();
    await waitForText(page, 'No environments yet');
    for (const name of ['production', 'staging']) {
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.getByRole('cell', { name, exact: true }).waitFor();
    }
    await page.getByLabel('Name', { exact: true }).fill('Production');
    await browser.expectingRefusal(409, async () => {
      await page.getByRole('button', { name: 'Create environment' }).click();
      await page.getByRole('alert').waitFor();
    });
    expect(await page.getByRole('alert').textContent()).toMatch(/already/);
    await page.getByRole('button', { name: 'Move staging up' }).click();
    await page.getByRole('table', { name: 'Environments' }).getByRole('row').nth(1).getByRole('cell', { name: 'staging', exact: true }).waitFor();
    await browser.screenshot('02b-environments');
  });

  it('creates an enrollment token, shown once with its copy buttons and the install command', async () => {
    await nav(page, 'Enrollment tokens').click();
    await page.getByLabel('Uses').fill('2');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByRole('heading', { name: /Token created/ }).waitFor();
    token = (await page.getByTestId('copy-token').textContent())!;
    expect(token).toMatch(/^crl_enr_[0-9A-Za-z]{40}$/);
    installCommand = (await page.getByTestId('copy-command').textContent())!;
    expect(installCommand).toMatch(
      new RegExp(`^curl -fsSLo corral-agent\\.js ${cp.url}/downloads/corral-agent\\.js && node corral-agent\\.js enroll --server ${cp.url} --token ${token} --server-key SHA256:[\\w+/]{43}$`),
    );
    await page.getByRole('button', { name: 'Copy token' }).waitFor();
    await page.getByRole('button', { name: 'Copy command' }).waitFor();
    await page.getByRole('row', { name: /active/ }).waitFor();
    await browser.screenshot('03-enrollment-token');
  });

  it('shows the enrolled agent as pending, with the code its enroll printed, without a reload', async () => {
    await nav(page, 'Agents').click();
    await waitForText(page, 'No agent is waiting for approval');
    // A page reload would lose this marker.
    await page.evaluate('window.notReloaded = true');

    // The copied command, pasted on the server: it fetches the agent from the control plane.
    const stateDir = newStateDir();
    const host = tempDir('corral-install-');
    const enroll = spawnSync('bash', ['-c', installCommand], {
      cwd: host,
      env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, CORRAL_STATE_DIR: stateDir, CORRAL_NAME: agentName },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect({ status: enroll.status, stderr: enroll.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
    printedCode = /Verification code\s+(\S+)/.exec(enroll.stdout)![1];
    const printedFingerprint = /Fingerprint\s+(\S+)/.exec(enroll.stdout)![1];

    // Pushed by the agent-events stream: the pending tab polls only once a minute.
    const card = page.getByRole('listitem', { name: `Agent ${agentName}` });
    await card.waitFor({ timeout: 5 * SECOND });
    expect(await card.getByTestId('verification-code').textContent()).toBe(printedCode);
    expect(await card.textContent()).toContain(printedFingerprint);
    expect(await page.getByRole('tab', { name: /Pending/ }).textContent()).toMatch(/Pending\s*1/);
    expect(await page.evaluate('window.notReloaded')).toBe(true);
    await browser.screenshot('04-agents-pending');

    runningAgent = spawnAgent(['run', '--state-dir', stateDir, '--transport', 'ws']);
    await runningAgent.waitForOutput(/waiting for approval/);
  });

  it('approves the agent by typing the printed code (a wrong code is refused), and sees it go online', async () => {
    const card = page.getByRole('listitem', { name: `Agent ${agentName}` });
    await card.getByRole('button', { name: 'Approve…' }).click();
    const dialog = page.getByRole('dialog', { name: new RegExp(`Approve agent .${agentName}.`) });
    await dialog.waitFor();
    await dialog.getByLabel('Verification code the agent printed').fill('AAAA-AAAA');
    await browser.expectingRefusal(422, async () => {
      await dialog.getByRole('button', { name: 'Approve', exact: true }).click();
      await dialog.getByRole('alert').waitFor();
    });
    expect(await dialog.getByRole('alert').textContent()).toMatch(/does not match/);

    await dialog.getByLabel('Verification code the agent printed').fill(printedCode);
    await dialog.getByRole('checkbox', { name: 'production' }).check();
    await browser.screenshot('05-approve-dialog');
    // Keyboard: Enter in the form submits it.
    await dialog.getByLabel('Roles').fill('web');
    await dialog.getByLabel('Roles').press('Enter');
    await waitForText(page, `Agent “${agentName}” approved`);
    await runningAgent.waitForOutput(/approved: agent/);

    await page.getByRole('tab', { name: /Approved/ }).click();
    const approved = page.getByRole('listitem', { name: `Agent ${agentName}` });
    await approved.locator('.badge[data-status="online"]').waitFor({ timeout: 15 * SECOND });
    await browser.screenshot('06-agents-approved');

    await approved.getByRole('link', { name: agentName }).click();
    await page.getByRole('heading', { name: 'Presence' }).waitFor();
    await page.locator('.badge[data-status="online"]').waitFor();
    await waitForText(page, 'over websocket');
    const history = page.locator('section', { has: page.getByRole('heading', { name: 'Approval history' }) });
    await history.getByText('Approved', { exact: true }).waitFor();
    await history.getByText('Approval refused (code did not match)').waitFor();
    await history.getByText('Enrolled', { exact: true }).waitFor();
    await browser.screenshot('07-agent-detail');

    // An approved agent's environments and roles can change later, by an admin.
    await page.getByRole('button', { name: 'Environments and roles…' }).click();
    const labels = page.getByRole('dialog', { name: `Environments and roles of “${agentName}”` });
    expect(await labels.getByRole('checkbox', { name: 'production' }).isChecked()).toBe(true);
    await labels.getByRole('textbox', { name: 'Roles' }).fill('web, cache');
    await labels.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('definition').getByText('web, cache').waitFor();
  });

  it('runs a script and shows its output live, then its exit code', async () => {
    await runScript(page, agentName, 'count to three', 'for i in 1 2 3; do echo "line $i"; sleep 1; done; echo "oops" >&2; exit 3');
    const log = page.getByTestId('task-log');
    await log.getByText('line 1').waitFor({ timeout: 15 * SECOND });
    // Live: the first line is on screen while the script still runs.
    expect(await headerBadge(page).getAttribute('data-status')).toMatch(/queued|running/);
    expect(await log.textContent()).not.toContain('line 3');
    await browser.screenshot('08-task-live');

    await waitForHeaderState(page, 'failed');
    await log.getByText('oops').waitFor();
    expect(await log.textContent()).toMatch(/line 1\nline 2\nline 3\n/);
    expect(await page.getByTestId('exit-code').textContent()).toBe('3');
    await waitForText(page, '(ended: failed)');
    await browser.screenshot('09-task-failed');
  });

  it('cancels a long-running script', async () => {
    await runScript(page, agentName, 'long sleep', 'echo "sleeping"; sleep 300');
    await page
      .getByTestId('task-log')
      .getByText('sleeping')
      .waitFor({ timeout: 15 * SECOND });
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await waitForHeaderState(page, 'cancelled');
    await page.locator('tr[data-job-id] .badge[data-status="cancelled"]').waitFor();
    await waitForText(page, /Cancel asked by/);
  });

  it('shows a task waiting on a concurrency key with a link to its blocker, and the node’s running jobs', async () => {
    const key = `deploy/${randomBytes(2).toString('hex')}`;
    const blocker = await runScript(page, agentName, 'holds the key', 'echo "holding"; sleep 300', key);
    await page
      .getByTestId('task-log')
      .getByText('holding')
      .waitFor({ timeout: 15 * SECOND });
    await runScript(page, agentName, 'waits for the key', 'echo "my turn"', key);

    const waiting = page.getByTestId('waiting-for');
    await waiting.waitFor();
    expect(await waiting.textContent()).toBe(`Waiting for holds the key (running) on concurrency key ${key}.`);
    await browser.screenshot('10-task-waiting');
    await waiting.getByRole('link', { name: 'holds the key' }).click();
    await page.waitForURL(new RegExp(`/tasks/${blocker}$`));
    await page.getByRole('heading', { level: 1, name: /holds the key/ }).waitFor();

    await nav(page, 'Nodes').click();
    const running = page.getByRole('link', { name: '1 running' });
    await running.waitFor({ timeout: 15 * SECOND });
    await browser.screenshot('11-nodes');
    await running.click();
    await page.getByRole('heading', { level: 1, name: /Running on node/ }).waitFor();
    await page.getByRole('link', { name: 'holds the key' }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);

    // Cancelling the blocker releases the waiting task, which then runs.
    await page.getByRole('link', { name: 'holds the key' }).click();
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await waitForHeaderState(page, 'cancelled');
    await nav(page, 'Tasks').click();
    await page.getByRole('link', { name: 'waits for the key' }).click();
    await waitForHeaderState(page, 'succeeded');
    await page.getByTestId('task-log').getByText('my turn').waitFor();
    await nav(page, 'Tasks').click();
    await page.getByLabel('State').selectOption('cancelled');
    await page.getByRole('link', { name: 'long sleep' }).waitFor();
    await browser.screenshot('12-tasks');
  });

  it('creates a project, edits its process, deploys a release through the dialog, answers its manual step, and sees it on the dashboard', async () => {
    await nav(page, 'Projects').click();
    await page.getByLabel('Name', { exact: true }).fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('heading', { name: 'Shop', level: 1 }).waitFor();

    await page.getByRole('link', { name: 'Edit process' }).click();
    await page.getByRole('button', { name: 'Add a manual step' }).click();
    const approve = page.getByRole('group', { name: 'Step 1' });
    await approve.getByLabel('Step name').fill('approve');
    await approve.getByLabel('Instructions').fill('Check the change ticket');
    await approve.getByLabel('Who may answer (this role or higher)').selectOption('owner');
    await approve.getByRole('group', { name: 'Environments of step 1' }).getByLabel('production').check();
    await page.getByRole('button', { name: 'Add a script step' }).click();
    const deploy = page.getByRole('group', { name: 'Step 2' });
    await deploy.getByLabel('Step name').fill('deploy');
    await deploy.getByLabel('Target roles (comma-separated)').fill('web');
    await deploy.getByLabel('Script', { exact: true }).fill('echo "deployed $CORRAL_RELEASE"');
    await deploy.getByLabel('At most this many agents at once (all when empty)').fill('1');
    await page.getByRole('button', { name: 'Save process' }).click();
    await waitForText(page, /^Version 1, saved by/);
    await browser.screenshot('12a-process');

    await page.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('button', { name: 'Create release' }).click();
    await page.getByLabel('Notes').fill('the first cut');
    await page.getByRole('button', { name: 'Create this release' }).click();
    await page
      .getByRole('cell', { name: /^1\.0\.0/ })
      .getByText('the first cut')
      .waitFor();
    // The default lifecycle follows the environments' order: staging first, where no step has anything to do.
    expect(await page.getByRole('button', { name: 'Deploy to production' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Deploy to staging' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy 1.0.0' });
    await dialog.getByRole('listitem', { name: 'Would run deploy' }).getByText('no agent with role web in staging').waitFor();
    await dialog.getByRole('button', { name: 'Deploy 1.0.0 to staging' }).click();
    await page
      .getByRole('heading', { name: /1\.0\.0 to staging/ })
      .locator('.badge[data-status="succeeded"]')
      .waitFor();
    await page.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('cell', { name: '1.0.0 in staging' }).locator('.badge[data-status="succeeded"]').waitFor();
    await page.getByRole('button', { name: 'Deploy to production' }).click();
    await dialog.getByRole('checkbox', { name: `Run deploy on ${agentName}` }).waitFor();
    expect(await dialog.getByRole('checkbox', { name: `Run deploy on ${agentName}` }).isChecked()).toBe(true);
    await browser.screenshot('12b-deploy-dialog');
    await dialog.getByRole('button', { name: 'Deploy 1.0.0 to production' }).click();

    await page.getByRole('heading', { name: /1\.0\.0 to production/ }).waitFor();
    const manual = page.getByRole('region', { name: 'Manual intervention' });
    await manual.getByText('Check the change ticket').waitFor();
    await browser.screenshot('12c-deployment-waiting');
    await manual.getByLabel('Note (kept in the audit log)').fill('ticket CHG-1 approved');
    await manual.getByRole('button', { name: 'Proceed' }).click();
    await page
      .getByRole('listitem', { name: `deploy on ${agentName}` })
      .locator('.badge[data-status="succeeded"]')
      .waitFor({ timeout: 15 * SECOND });
    await page
      .getByRole('heading', { name: /1\.0\.0 to production/ })
      .locator('.badge[data-status="succeeded"]')
      .waitFor();
    await page.getByLabel('Output of deploy').getByText('deployed 1.0.0').waitFor();
    await waitForText(page, `chose proceed`);
    await browser.screenshot('12d-deployment-done');

    await nav(page, 'Dashboard').click();
    const cell = page.getByRole('cell', { name: 'Shop in production' });
    await cell.locator('.badge[data-status="succeeded"]').waitFor();
    expect(await cell.textContent()).toContain('1.0.0');
    await browser.screenshot('12e-dashboard');
  });

  it('makes a lifecycle with a phase of its own', async () => {
    await nav(page, 'Lifecycles').click();
    await page.getByRole('listitem', { name: 'Lifecycle Default lifecycle' }).waitFor();
    await page.getByRole('button', { name: 'New lifecycle' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Hotfix');
    await page.getByLabel('Phase name').fill('Straight to production');
    await page.getByRole('checkbox', { name: 'production in phase 1' }).check();
    await page.getByRole('checkbox', { name: 'Deploy to production automatically' }).check();
    await page.getByRole('button', { name: 'Save lifecycle' }).click();
    const hotfix = page.getByRole('listitem', { name: 'Lifecycle Hotfix' });
    await hotfix.getByText('deploys to production automatically').waitFor();
    await browser.screenshot('12f-lifecycles');
  });

  it('shows the audit log, members and API keys (a created key is shown once)', async () => {
    await nav(page, 'Audit log').click();
    await page.getByText('agent.approved', { exact: true }).waitFor();
    await browser.screenshot('13-audit');

    await nav(page, 'Members').click();
    // The audit log's rows name the same email: wait for the members page itself first.
    await page.getByRole('heading', { name: 'Members', level: 1 }).waitFor();
    await page
      .getByRole('cell', { name: new RegExp(email) })
      .first()
      .waitFor();
    // Its limits on this control plane, the defaults here.
    await page.getByRole('region', { name: 'Limits of this organisation' }).getByText('10,000').waitFor();
    await browser.screenshot('14-members');

    await nav(page, 'API keys').click();
    await page.getByLabel('Name').fill('ci');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('copy-api-key').textContent())!;
    expect(key).toMatch(/^crl_/);
    const me = await fetch(`${cp.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    await browser.screenshot('15-api-keys');
  });

  it('lets a platform operator see every organisation’s work on each node and set an organisation’s limits', async () => {
    await nav(page, 'Platform').click();
    await page.getByRole('heading', { level: 1, name: 'Platform' }).waitFor();
    await page
      .getByRole('list', { name: /^Work on / })
      .getByText(/^Console Test Ltd: \d+ agents?, \d+ running$/)
      .waitFor({ timeout: 15 * SECOND });
    await page.getByRole('button', { name: /^Drain node / }).waitFor();
    await browser.screenshot('13-platform');

    await page.getByRole('button', { name: 'Edit the limits of Console Test Ltd' }).click();
    const form = page.getByRole('form', { name: 'Limits of Console Test Ltd' });
    const queued = form.getByLabel('Tasks waiting to start, at most');
    await queued.fill('0');
    await browser.expectingRefusal(422, async () => {
      await form.getByRole('button', { name: 'Save limits' }).click();
      await form.getByRole('alert').waitFor();
    });
    expect(await form.getByRole('alert').textContent()).toContain('queuedTasks must be a whole number from 1');
    await queued.fill('500');
    await form.getByRole('button', { name: 'Save limits' }).click();
    await page
      .getByRole('row', { name: /Console Test Ltd/ })
      .getByText('own')
      .waitFor();
    // The organisation sees its own limit on its Members page.
    await nav(page, 'Members').click();
    await page.getByText('500 (default 10,000)').waitFor();
  });

  it('works at phone width', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${cp.url}/agents?status=approved`);
    await phone.getByRole('listitem', { name: `Agent ${agentName}` }).waitFor();
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await browser.screenshot('16-phone-agents', phone);
    await phone.close();
  });

  it('invites an existing account, which joins only when it accepts the link', async () => {
    const joiner = uniqueEmail('joiner');
    const signup = await fetch(`${cp.url}/api/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: `Elsewhere ${randomBytes(2).toString('hex')}`, email: joiner, password: PASSWORD }),
    });
    expect(signup.status).toBe(201);

    await nav(page, 'Members').click();
    await page.getByLabel('Email').fill(joiner);
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Invite' }).click();
    const link = (await page.getByTestId('copy-invitation-link').textContent())!;
    expect(link).toMatch(new RegExp(`^${cp.url}/accept-invitation#token=crl_inv_`));
    await page.getByRole('region', { name: 'Open invitations' }).getByText(joiner).waitFor();
    expect(await page.getByRole('cell', { name: joiner }).count()).toBe(0);

    // The invited person opens the link (this browser's session switches to them once they join).
    await page.goto(link);
    await page.getByRole('heading', { name: 'Accept an invitation' }).waitFor();
    await page.getByLabel('Password').fill('not their password');
    await browser.expectingRefusal(401, async () => {
      await page.getByRole('button', { name: 'Accept and join' }).click();
      await waitForText(page, "enter that account's password");
    });
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Accept and join' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    const me = await page.evaluate(async () => (await (await fetch('/api/v1/me')).json()) as { user: { email: string }; role: string });
    expect(me.user.email).toBe(joiner);
    expect(me.role).toBe('viewer');
  });

  it('logs out back to the log-in page', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.goto(`${cp.url}/tasks`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
  });
});
