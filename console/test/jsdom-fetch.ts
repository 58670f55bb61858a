// jsdom lacks Request, Response and Headers, which openapi-fetch builds its calls with; a spec
// that calls the API imports this first (before the client is created). Node's are the same web
// API, taken from Node's own global scope; a Request's relative URL is resolved against the page's.
import { runInThisContext } from 'node:vm';

const node = runInThisContext('({ Request, Response, Headers })') as { Request: typeof Request; Response: typeof Response; Headers: typeof Headers };

class PageRequest extends node.Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === 'string' ? new URL(input, location.href) : input, init);
  }
}

Object.assign(globalThis, { Request: PageRequest, Response: node.Response, Headers: node.Headers });

/** A JSON answer (none for 204) as fetch resolves it. */
export function answer(status: number, body?: unknown): Response {
  return new node.Response(body === undefined ? null : JSON.stringify(body), { status, headers: body === undefined ? {} : { 'content-type': 'application/json' } });
}

/** The path and query a call asked for, e.g. `/api/v1/agents?status=approved`. */
export function pathOf(request: Request): string {
  const url = new URL(request.url);
  return url.pathname + url.search;
}

/** A call the console made, its JSON body parsed. */
export interface Call {
  method: string;
  path: string;
  body?: unknown;
}

/** Hands each call to fetch to `handler` (a jest.fn, say) as a Call, and answers what it returns. */
export function fetchInto(handler: (call: Call) => Response | Promise<Response>): void {
  globalThis.fetch = (async (request: Request) => {
    const text = await request.text();
    return handler({ method: request.method, path: pathOf(request), ...(text ? { body: JSON.parse(text) as unknown } : {}) });
  }) as typeof fetch;
}
