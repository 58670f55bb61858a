import { randomBytes } from 'node:crypto';
import type { Locator, Page } from 'playwright-core';
import { removeTempDirs, runApprovedAgent, stopAllAgents } from './helpers/agent-process';
import { type ConsoleBrowser, launchConsoleBrowser } from './helpers/browser';
import { type ControlPlaneProcess, startControlPlane } from './helpers/control-plane-process';
import { PASSWORD, signUp, type SignedUp } from './helpers/factories';
import { HttpClient } from './helpers/http-client';
import { createTestDatabase } from './helpers/test-database';

// The variables editor in real Chromium, against a real control plane and a real agent: a
// library set, a project's scoped and sensitive values, the preview, and a deployment that asks
// for a prompted value. A sensitive value, once saved, is in no input, no part of the page and
// no API answer the page received, even after a reload.

jest.setTimeout(120_000);

const SECOND = 1_000;
const SECRET = `pw-${randomBytes(6).toString('hex')}`;
const TOKEN = `tok-${randomBytes(6).toString('hex')}`;

function nav(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

/** Every input's and textarea's current value on the page. */
function inputValues(page: Page): Promise<string[]> {
  return page.$$eval('input, textarea', (els) => els.map((el) => (el as unknown as { value: string }).value));
}

/** The form's value N (1-based) and what it holds. */
function valueRow(page: Page, n: number): Locator {
  return page.getByRole('form', { name: 'Variables' }).getByRole('group', { name: `Value ${n}`, exact: true });
}

async function addScope(row: Locator, group: 'Environments' | 'Roles', entry: string) {
  const picker = row.getByRole('group', { name: group, exact: true });
  if (group === 'Environments') {
    await picker.getByLabel('environment to add').selectOption({ label: entry });
    await picker.getByRole('button', { name: 'Add environment' }).click();
  } else {
    await picker.getByLabel('role to add').fill(entry);
    await picker.getByLabel('role to add').press('Enter');
  }
  await picker.getByRole('button', { name: `Remove ${group === 'Environments' ? 'environment' : 'role'} ${entry}` }).waitFor();
}

describe('variables in the web console', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cp: ControlPlaneProcess;
  let browser: ConsoleBrowser;
  let page: Page;
  let owner: SignedUp;
  let projectId = '';
  const agentName = `web-${randomBytes(3).toString('hex')}`;
  // The bodies of the API answers the page received (live event streams aside: the task log is checked as stored).
  const answers: Promise<string>[] = [];
  const answersContaining = async (text: string) => (await Promise.all(answers)).filter((body) => body.includes(text));

  beforeAll(async () => {
    db = await createTestDatabase();
    cp = await startControlPlane({ DATABASE_URL: db.url, JOB_REQUERY_SECONDS: '1' });
    owner = await signUp({ client: () => new HttpClient(cp.url) });
    for (const name of ['Dev', 'Prod']) expect((await owner.client.post('/api/v1/environments', { name })).status).toBe(201);

    await runApprovedAgent(owner, cp.url, agentName, { environments: ['Dev'], roles: ['web'] });

    browser = await launchConsoleBrowser();
    page = browser.page;
    page.on('response', (res) => {
      if (!new URL(res.url()).pathname.startsWith('/api/') || (res.headers()['content-type'] ?? '').includes('text/event-stream')) return;
      answers.push(res.text().catch(() => ''));
    });
    await page.goto(`${cp.url}/login`);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Agents', level: 1 }).waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await stopAllAgents();
    removeTempDirs();
    await cp?.stop();
    await db?.drop();
  });
  afterEach(() => {
    const problems = browser.problems.splice(0);
    expect(problems).toEqual([]);
  });

  it('makes a library variable set with a value, and renames it', async () => {
    await nav(page, 'Variable sets').click();
    await page.getByText('No variable sets yet.').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Common');
    await page.getByRole('button', { name: 'Create variable set' }).click();
    await page.getByRole('button', { name: 'Rename variable set Common' }).click();
    await page.getByLabel('New name of Common').fill('Shared');
    await page.getByRole('form', { name: 'Rename Common' }).getByRole('button', { name: 'Save' }).click();
    await page.getByRole('link', { name: 'Shared', exact: true }).click();
    await page.getByRole('heading', { name: 'Shared', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Add a value' }).click();
    await valueRow(page, 1).getByLabel('Name', { exact: true }).fill('Greeting');
    await valueRow(page, 1).getByLabel('Value', { exact: true }).fill('hello');
    await page.getByRole('button', { name: 'Save variables' }).click();
    await page.getByRole('status').getByText('Saved 1 value.').waitFor();
    await browser.screenshot('v01-variable-set');
  });

  it('edits a project’s values: a refused list shows why; a scoped value and a sensitive one are saved', async () => {
    await nav(page, 'Projects').click();
    await page.getByLabel('Name', { exact: true }).fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('heading', { name: 'Shop', level: 1 }).waitFor();
    projectId = page.url().split('/').pop()!;
    await page.getByRole('link', { name: 'Variables', exact: true }).click();
    await page.getByRole('heading', { name: 'Variables of Shop', level: 1 }).waitFor();

    await page.getByLabel('Variable set to include').selectOption({ label: 'Shared' });
    await page.getByRole('button', { name: 'Include', exact: true }).click();
    await page.getByRole('button', { name: 'Save included sets' }).click();
    await page.getByRole('status').getByText('Saved the included sets.').waitFor();
    await page.getByRole('list', { name: 'Included variable sets' }).getByRole('link', { name: 'Shared' }).waitFor();

    await page.getByRole('button', { name: 'Add a value' }).click();
    const host = valueRow(page, 1);
    await host.getByLabel('Name', { exact: true }).fill('DbHost');
    await host.getByLabel('Value', { exact: true }).fill('db.dev.internal');
    await addScope(host, 'Environments', 'Dev');
    await addScope(host, 'Roles', 'web');

    await page.getByRole('button', { name: 'Add a value' }).click();
    const password = valueRow(page, 2);
    await password.getByLabel('Name', { exact: true }).fill('DbPassword');
    await password.getByLabel('Description (optional)').fill('the app user');
    await password.getByRole('checkbox', { name: 'Sensitive (write-only)' }).check();
    expect(await password.getByLabel('Value', { exact: true }).getAttribute('type')).toBe('password');
    await password.getByLabel('Value', { exact: true }).fill(SECRET);

    // Two unscoped values of one name (names are case-insensitive) would tie: refused, naming it.
    await page.getByRole('button', { name: 'Add a value' }).click();
    await valueRow(page, 3).getByLabel('Name', { exact: true }).fill('DbHost');
    await valueRow(page, 3).getByLabel('Value', { exact: true }).fill('db.default');
    await page.getByRole('button', { name: 'Add a value' }).click();
    await valueRow(page, 4).getByLabel('Name', { exact: true }).fill('dbhost');
    await valueRow(page, 4).getByLabel('Value', { exact: true }).fill('db.other');
    await browser.expectingRefusal(422, async () => {
      await page.getByRole('button', { name: 'Save variables' }).click();
      await page.getByRole('form', { name: 'Variables' }).getByRole('alert').waitFor();
    });
    expect(await page.getByRole('form', { name: 'Variables' }).getByRole('alert').textContent()).toMatch(/"dbhost" has two values that could both apply \(unscoped and unscoped\)/i);
    await browser.screenshot('v02-refused');

    await page.getByRole('button', { name: 'Remove value 4' }).click();
    await page.getByRole('button', { name: 'Save variables' }).click();
    await page.getByRole('status').getByText('Saved 3 values.').waitFor();
    await password.getByTestId('secret-set').waitFor();
    expect(await password.getByTestId('secret-set').textContent()).toBe('•••• (set)');
    expect(await inputValues(page)).not.toContain(SECRET);
    expect(await page.content()).not.toContain(SECRET);
    await browser.screenshot('v03-saved');
  });

  it('never shows the sensitive value again: not after a reload, in no input, in no API answer the page received', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Variables of Shop', level: 1 }).waitFor();
    const password = valueRow(page, 2);
    await password.getByTestId('secret-set').waitFor();
    expect(await password.getByLabel('Name', { exact: true }).inputValue()).toBe('DbPassword');
    expect(await password.getByRole('textbox', { name: 'Value', exact: true }).count()).toBe(0);
    const host = valueRow(page, 1);
    expect(await host.getByLabel('Value', { exact: true }).inputValue()).toBe('db.dev.internal');
    await host.getByRole('group', { name: 'Environments' }).getByRole('button', { name: 'Remove environment Dev' }).waitFor();
    await host.getByRole('group', { name: 'Roles' }).getByRole('button', { name: 'Remove role web' }).waitFor();

    // Replacing it shows an empty password field, never the saved value; giving up keeps it.
    await password.getByRole('button', { name: 'Replace the value of DbPassword' }).click();
    expect(await password.getByLabel('New value').inputValue()).toBe('');
    await password.getByRole('button', { name: 'Keep the saved value' }).click();
    await password.getByTestId('secret-set').waitFor();

    expect(await inputValues(page)).not.toContain(SECRET);
    expect(await page.content()).not.toContain(SECRET);
    expect(await answersContaining(SECRET)).toEqual([]);
    // The answers were read: the list with the secret's row is among them.
    expect((await answersContaining('"hasValue":true')).length).toBeGreaterThan(0);
  });

  it('fits the variables page at phone width', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${cp.url}/projects/${projectId}/variables`);
    await phone.getByRole('group', { name: 'Value 2', exact: true }).getByTestId('secret-set').waitFor();
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await browser.screenshot('v03b-phone', phone);
    await phone.close();
  });

  it('previews what a step sees in an environment and on an agent, and where each value came from', async () => {
    const table = page.getByRole('table', { name: 'What a step sees' });
    const row = (name: string) => table.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) });
    await row('Greeting').getByText('set Shared', { exact: false }).waitFor();
    // Dev, no agent: the value scoped to Dev and role web does not apply.
    expect(await page.getByLabel('Environment', { exact: true }).inputValue()).toBe('Dev');
    expect(await row('DbHost').getByRole('cell').nth(1).textContent()).toBe('db.default');
    expect(await row('DbPassword').getByRole('cell').nth(1).textContent()).toBe('*** (sensitive)');

    await page.getByLabel('Agent', { exact: true }).selectOption(agentName);
    await row('DbHost').getByText('db.dev.internal').waitFor();
    expect(await row('DbHost').getByRole('cell').nth(2).textContent()).toMatch(/environment Dev/);
    expect(await row('DbHost').getByRole('cell').nth(2).textContent()).toMatch(/role web/);
    await browser.screenshot('v04-preview');
    expect(await answersContaining(SECRET)).toEqual([]);
  });

  it('shows the warnings of a release whose steps use an undefined name, and the deploy dialog refuses it', async () => {
    const step = (body: string) => ({ steps: [{ name: 'deploy', kind: 'script', script: { syntax: 'bash', body }, targetRoles: ['web'] }] });
    expect((await owner.client.put(`/api/v1/projects/${projectId}/process`, step('echo "#{DbHost} #{Nope}"'))).status).toBe(200);

    await page.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('button', { name: 'Create release' }).click();
    await page.getByRole('button', { name: 'Create this release' }).click();
    const warnings = page.getByRole('list', { name: 'Warnings of release 1.0.0' });
    await warnings.waitFor();
    expect(await warnings.textContent()).toBe('step "deploy" uses #{Nope}, which no variable defines');
    await browser.screenshot('v05-release-warnings');

    await page.getByRole('button', { name: 'Deploy to Dev' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy 1.0.0' });
    const refusals = dialog.getByRole('list', { name: 'Why it cannot be deployed' });
    await refusals.waitFor();
    expect(await refusals.textContent()).toContain(`step "deploy" cannot run on ${agentName}: #{Nope} is not defined here`);
    expect(await dialog.getByRole('button', { name: 'Deploy 1.0.0 to Dev' }).isDisabled()).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('deploys with prompted values given in the dialog: a required one left out is refused, a sensitive one is a password field', async () => {
    const script = [
      'echo "host=#{DbHost} pw=#{DbPassword} ticket=#{Ticket} token=#{DeployToken} greeting=#{Greeting}"',
      'corral set-output Url http://dev-app:8080',
      'corral get DeployToken | corral set-output Token --sensitive',
    ].join('\n');
    expect(
      (await owner.client.put(`/api/v1/projects/${projectId}/process`, { steps: [{ name: 'deploy', kind: 'script', script: { syntax: 'bash', body: script }, targetRoles: ['web'] }] })).status,
    ).toBe(200);

    await page.getByRole('link', { name: 'Variables', exact: true }).click();
    await valueRow(page, 3).waitFor();
    await page.getByRole('button', { name: 'Add a value' }).click();
    const ticket = valueRow(page, 4);
    await ticket.getByLabel('Name', { exact: true }).fill('Ticket');
    await ticket.getByRole('checkbox', { name: 'Ask for it at each deployment' }).check();
    await ticket.getByLabel('Prompt label').fill('Change ticket');
    await ticket.getByRole('checkbox', { name: /Required/ }).check();
    await page.getByRole('button', { name: 'Add a value' }).click();
    const token = valueRow(page, 5);
    await token.getByLabel('Name', { exact: true }).fill('DeployToken');
    await token.getByRole('checkbox', { name: 'Sensitive (write-only)' }).check();
    await token.getByRole('checkbox', { name: 'Ask for it at each deployment' }).check();
    await token.getByLabel('Prompt label').fill('Deploy token');
    await token.getByRole('checkbox', { name: /Required/ }).check();
    await page.getByRole('button', { name: 'Save variables' }).click();
    await page.getByRole('status').getByText('Saved 5 values.').waitFor();

    await page.getByRole('link', { name: 'Shop' }).click();
    await page.getByRole('button', { name: 'Create release' }).click();
    await page.getByRole('button', { name: 'Create this release' }).click();
    await page.getByRole('cell', { name: '1.0.1', exact: true }).waitFor();
    expect(await page.getByRole('list', { name: /Warnings of release/ }).count()).toBe(0);

    await page.getByRole('heading', { name: 'Deploy 1.0.1' }).waitFor();
    await page.getByRole('button', { name: 'Deploy to Dev' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy 1.0.1' });
    await dialog.getByLabel('Change ticket').waitFor();
    expect(await dialog.getByLabel('Deploy token').getAttribute('type')).toBe('password');
    const deploy = dialog.getByRole('button', { name: 'Deploy 1.0.1 to Dev' });
    await dialog.getByRole('list', { name: 'What it would run' }).waitFor();
    await browser.expectingRefusal(422, async () => {
      await deploy.click();
      await dialog.getByRole('alert').waitFor();
    });
    expect(await dialog.getByRole('alert').textContent()).toMatch(/this release asks for "Ticket" \(Change ticket\), "DeployToken" \(Deploy token\)/);

    await dialog.getByLabel('Change ticket').fill('CHG-42');
    await dialog.getByLabel('Deploy token').fill(TOKEN);
    await browser.screenshot('v06-deploy-prompts');
    await deploy.click();
    await page
      .getByRole('heading', { name: /1\.0\.1 to Dev/ })
      .locator('.badge[data-status="succeeded"]')
      .waitFor({ timeout: 30 * SECOND });
    const output = page.getByLabel('Output of deploy');
    await output.getByText('host=db.dev.internal pw=*** ticket=CHG-42 token=*** greeting=hello').waitFor();
    // Its outputs are on the page, the sensitive one only as ***.
    const outputs = page.getByLabel(`Outputs of deploy on ${agentName}`);
    await outputs.getByText('http://dev-app:8080').waitFor();
    expect(await outputs.textContent()).toBe('Token***Urlhttp://dev-app:8080');
    await browser.screenshot('v07-deployed');

    const deploymentId = page.url().split('/').pop()!;
    const deployment = await owner.client.get(`/api/v1/deployments/${deploymentId}`);
    const log = await owner.client.get(`/api/v1/tasks/${deployment.body.taskId}/log`);
    expect(log.text).toContain('ticket=CHG-42');
    for (const secret of [SECRET, TOKEN]) {
      expect(log.text).not.toContain(secret);
      expect(await page.content()).not.toContain(secret);
      expect(await answersContaining(secret)).toEqual([]);
    }
  });
  it('refuses to delete a variable set a project includes, and deletes one nobody does', async () => {
    await nav(page, 'Variable sets').click();
    await browser.expectingRefusal(409, async () => {
      await page.getByRole('button', { name: 'Delete variable set Shared' }).click();
      await page.getByRole('alert').waitFor();
    });
    expect(await page.getByRole('alert').textContent()).toContain('variable set "Shared" is included by "Shop"');
    await page.getByLabel('Name', { exact: true }).fill('Scratch');
    await page.getByRole('button', { name: 'Create variable set' }).click();
    await page.getByRole('button', { name: 'Delete variable set Scratch' }).click();
    await page.getByRole('link', { name: 'Scratch' }).waitFor({ state: 'detached' });
    expect(await page.getByRole('link', { name: 'Shared' }).count()).toBe(1);
  });
});
