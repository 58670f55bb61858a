import { type ConsoleBrowser, launchConsoleBrowser } from './helpers/browser';
import { type Route, routeTable } from './helpers/route-table';
import { startTestApp, type TestApp } from './helpers/test-app';

// The API contract (issue 18): the document a running node serves describes every route Nest
// maps, with the method, who may call it, and what it answers; and its reference pages load in a
// browser under the same CSP as the console, from this node alone.

/**
 * Routes whose success answer has no schema yet, and why. The test fails when one of them gains
 * a schema (remove it here), so the list only shrinks; a new route cannot join it silently either.
 */
const KNOWN_WITHOUT_RESPONSE_SCHEMA: Record<string, string> = {};

/** Routes that never answer with a success, so the document lists only their refusal. */
const NEVER_SUCCEEDS: Record<string, string> = {
  'GET /api/agent/v1/ws': 'the WebSocket path reached without an upgrade: always 426, naming the proxy that dropped it',
};

// Not HTTP: the agents' WebSocket is described in the document's own description instead.
const NOT_IN_DOCUMENT = new Set(['WS /api/agent/v1/ws']);
// Of the agent protocol, only the clock (an agent reads it before it can sign) and the WebSocket's
// path reached without an upgrade (426, to anyone) are unsigned.
const UNSIGNED_AGENT_ROUTES = new Set(['GET /api/agent/v1/time', 'GET /api/agent/v1/ws']);

interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: unknown }> }>;
  'x-corral-least-role'?: string;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  security?: Record<string, string[]>[];
}

const keyOf = (method: string, path: string) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;

/** Every `$ref` in the document that points inside it, and whether it resolves. */
function danglingRefs(document: Document): string[] {
  const refs = [...JSON.stringify(document).matchAll(/"\$ref":"(#[^"]*)"/g)].map(([, ref]) => ref);
  return [...new Set(refs)].filter((ref) => {
    let node: unknown = document;
    for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    return node === undefined;
  });
}

describe('the API document', () => {
  let app: TestApp;
  let routes: Route[];
  let document: Document;
  let operations: Map<string, Operation>;

  beforeAll(async () => {
    routes = (await routeTable()).filter((r) => !NOT_IN_DOCUMENT.has(r.key));
    app = await startTestApp();
    const res = await fetch(`${app.url}/api/v1/openapi.json`);
    expect([res.status, res.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^application\/json/)]);
    document = (await res.json()) as Document;
    operations = new Map(Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => [keyOf(method, path), op] as const)));
  }, 120_000);
  afterAll(() => app?.close());

  it('is OpenAPI 3.1, anonymous, and refers only to what it defines', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual(['agentSignature', 'apiKey', 'metricsToken', 'session']);
    expect(danglingRefs(document)).toEqual([]);
    // 3.0's `nullable` is gone: 3.1 says null with a type.
    expect(JSON.stringify(document)).not.toMatch(/"nullable":/);
  });

  it('has every route of the route table, with its method, and nothing else', () => {
    const documented = [...operations.keys()].sort();
    expect(documented).toEqual(routes.map((r) => r.key).sort());
  });

  it('says who may call each route', () => {
    const wrong: string[] = [];
    for (const route of routes) {
      const operation = operations.get(route.key)!;
      const schemes = (operation.security ?? document.security ?? []).flatMap((s) => Object.keys(s)).sort();
      const agentSigned = route.path.startsWith('/api/agent/') && !UNSIGNED_AGENT_ROUTES.has(route.key);
      const expected = agentSigned ? ['agentSignature'] : route.key === 'GET /metrics' ? ['metricsToken'] : route.isPublic ? [] : ['apiKey', 'session'];
      if (JSON.stringify(schemes) !== JSON.stringify(expected)) wrong.push(`${route.key}: security ${schemes.join(', ') || 'none'}, expected ${expected.join(', ') || 'none'}`);
      if (!route.isPublic && operation['x-corral-least-role'] !== route.leastRole) wrong.push(`${route.key}: least role ${operation['x-corral-least-role']}, the route says ${route.leastRole}`);
    }
    expect(wrong).toEqual([]);
  });

  it('declares the success answer of each route, with a schema unless it has no body, and the shared error shape', () => {
    const missing: string[] = [];
    const noErrors: string[] = [];
    const wrongStatus: string[] = [];
    for (const route of routes.filter((r) => !(r.key in NEVER_SUCCEEDS))) {
      const operation = operations.get(route.key)!;
      const successes = Object.keys(operation.responses).filter((s) => /^2\d\d$/.test(s));
      // The status Nest answers with, so a @Responds with another one is caught.
      if (successes.join() !== String(route.status)) wrongStatus.push(`${route.key}: documents ${successes.join(', ') || 'no success'}, Nest answers ${route.status}`);
      const status = successes[0];
      const response = status ? operation.responses[status] : undefined;
      const hasSchema = status === '204' || Object.values(response?.content ?? {}).some((c) => c.schema !== undefined);
      if (!hasSchema) missing.push(route.key);
      const errors = Object.entries(operation.responses).filter(([s]) => /^4/.test(s));
      if (!errors.length || errors.some(([, r]) => !r.$ref?.startsWith('#/components/responses/'))) noErrors.push(route.key);
    }
    const unexplained = missing.filter((key) => !(key in KNOWN_WITHOUT_RESPONSE_SCHEMA)).map((key) => `${key} declares no response schema: add @Responds (see docs/api.md)`);
    const fixed = Object.keys(KNOWN_WITHOUT_RESPONSE_SCHEMA)
      .filter((key) => !missing.includes(key))
      .map((key) => `${key} has a response schema now (or is gone): remove it from KNOWN_WITHOUT_RESPONSE_SCHEMA`);
    expect([...unexplained, ...fixed]).toEqual([]);
    for (const key of Object.keys(NEVER_SUCCEEDS)) {
      const successes = Object.keys(operations.get(key)?.responses ?? {}).filter((s) => /^2/.test(s));
      if (successes.length) wrongStatus.push(`${key} is in NEVER_SUCCEEDS but documents ${successes.join(', ')}: remove it from there`);
    }
    expect(wrongStatus).toEqual([]);
    expect(noErrors).toEqual([]);
    expect(document.components.schemas.Error).toMatchObject({ type: 'object', required: ['error'] });
  });

  describe('the reference pages', () => {
    let browser: ConsoleBrowser;

    beforeAll(async () => {
      browser = await launchConsoleBrowser();
    }, 120_000);
    afterAll(() => browser?.close());

    it('are served from this node alone, under a CSP without inline scripts', async () => {
      const res = await fetch(`${app.url}/api/docs`);
      const html = await res.text();
      expect([res.status, res.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^text\/html/)]);
      expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
      const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map(([, url]) => url);
      expect(urls.length).toBeGreaterThan(2);
      for (const url of urls) {
        expect(url).toMatch(/^\/api\//);
        const asset = await fetch(app.url + url);
        await asset.body?.cancel();
        expect([url, asset.status]).toEqual([url, 200]);
      }
      expect(html).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>/);
    });

    it('show every operation in a browser, with nothing refused by the CSP', async () => {
      const { page } = browser;
      await page.goto(`${app.url}/api/docs`);
      await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
      expect(await page.locator('.opblock').count()).toBe(routes.length);
      await browser.screenshot('api-docs');
      expect(browser.problems).toEqual([]);
    });
  });
});
