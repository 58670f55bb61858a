import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './control-plane-process';

export const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');

/** Debian's Chromium (installed on demand as root by scripts/find-chromium.sh); never a downloaded build. */
export function chromiumPath(): string {
  try {
    return execFileSync('bash', [join(ROOT, 'scripts', 'find-chromium.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim();
  } catch {
    throw new Error('no Chromium for the browser tests: see the message above (scripts/find-chromium.sh)');
  }
}

export interface ConsoleBrowser {
  context: BrowserContext;
  page: Page;
  /** Browser console errors and page errors seen so far that no `expectingRefusal` allowed. */
  problems: string[];
  /** Runs `fn` during which the API may answer `status` (the browser logs each such answer as an error). */
  expectingRefusal: <T>(status: number, fn: () => Promise<T>) => Promise<T>;
  screenshot: (name: string, page?: Page) => Promise<string>;
  close: () => Promise<void>;
}

/** Headless Chromium with a fresh profile, recording every console error and uncaught page error. */
export async function launchConsoleBrowser(viewport = { width: 1280, height: 860 }): Promise<ConsoleBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'corral-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport,
  });
  const problems: string[] = [];
  const allowed = new Map<number, number>();
  const watch = (page: Page) => {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const status = /the server responded with a status of (\d{3})/.exec(msg.text())?.[1];
      if (status && allowed.get(Number(status))) return;
      problems.push(`console error on ${page.url()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.stack ?? err.message}`));
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  mkdirSync(ARTIFACTS, { recursive: true });

  return {
    context,
    page,
    problems,
    expectingRefusal: async (status, fn) => {
      allowed.set(status, (allowed.get(status) ?? 0) + 1);
      try {
        return await fn();
      } finally {
        allowed.set(status, allowed.get(status)! - 1);
      }
    },
    screenshot: async (name, p = page) => {
      const path = join(ARTIFACTS, `${name}.png`);
      await p.screenshot({ path, fullPage: true });
      return path;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
