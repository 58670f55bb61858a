/** An answer, or why there was none (refused, reset, timed out: a node or its database is down). */
export type ApiAnswer = { ok: true; status: number; body: any } | { ok: false; error: string };

/**
 * The public API as a user's script sees it during the soak: an API key, whichever node is up,
 * and a timeout on every request, since a node whose database was just killed may not answer.
 */
export class SoakApi {
  constructor(
    private readonly key: string,
    private readonly liveUrls: () => string[],
  ) {}

  /** One request to one node. */
  async call(base: string, method: string, path: string, body?: unknown, timeoutMs = 5_000): Promise<ApiAnswer> {
    try {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${this.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      return { ok: true, status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { ok: false, error: cause ?? (err as Error).name };
    }
  }

  /**
   * A request safe to send twice (a read, a revocation): tried on each node up until one
   * answers below 500, or every one failed. Returns the last answer.
   */
  async anyNode(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    let last: ApiAnswer = { ok: false, error: 'no node is up' };
    for (const base of this.liveUrls()) {
      last = await this.call(base, method, path, body);
      if (last.ok && last.status < 500) return last;
    }
    return last;
  }
}
