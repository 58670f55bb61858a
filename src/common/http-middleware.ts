import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { DomainException } from './domain.exception';
import type { CorralLogger } from './logger';
import { httpRequestDuration } from '../metrics/metrics';
import { metricsLog } from '../metrics/metrics-log';
import { actorLabel, type AuthenticatedRequest, clientIp } from './actor';
import { requestContext } from './request-context';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Gives each request an id (honouring a sane incoming X-Request-Id), logs it when it finishes. */
export function requestLogging(logger: CorralLogger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && /^[\w.-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    requestContext.run({ requestId }, () => {
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        // By route template, so ids do not explode the label set.
        const route = (req.route as { path?: string } | undefined)?.path ?? (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other');
        if (!(res.getHeader('content-type') as string | undefined)?.startsWith('text/event-stream')) {
          httpRequestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, ms / 1000);
          const organizationId = (req as AuthenticatedRequest).actor?.organizationId ?? null;
          metricsLog.request({ method: req.method, route, status: res.statusCode, durationMs: Math.round(ms * 10) / 10, organizationId });
        }
        // Query strings are left out: they may carry tokens.
        requestContext.run({ requestId }, () => logger.event(res.statusCode >= 500 ? 'error' : 'info', 'request', requestLine(req, res, route, ms)));
      });
      next();
    });
  };
}

/** What an operator reads of a request: what was asked, by whom and from where, and how it went. */
function requestLine(req: Request, res: Response, route: string, ms: number) {
  const actor = (req as AuthenticatedRequest).actor;
  return {
    method: req.method,
    path: req.path,
    route,
    status: res.statusCode,
    ms: Math.round(ms * 10) / 10,
    ip: clientIp(req),
    ...(actor ? { organizationId: actor.organizationId, user: actorLabel(actor) } : {}),
  };
}

/** Only JSON bodies are accepted; anything else is 415 before it is read. */
export function jsonBodyOnly(limitBytes: number) {
  // Agents sign the exact bytes they send, so the raw body is kept for verification.
  const parse = express.json({ limit: limitBytes, strict: true, verify: (req, _res, buf) => ((req as Request & { rawBody?: Buffer }).rawBody = buf) });
  return (req: Request, res: Response, next: NextFunction) => {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (BODY_METHODS.has(req.method) && hasBody && !req.is('application/json')) {
      return next(new DomainException('UNSUPPORTED_MEDIA_TYPE', `send the body as JSON with "Content-Type: application/json" (got ${req.headers['content-type'] ?? 'no content type'})`));
    }
    // The query string is stored and compared as text as much as the body is: the same rules.
    const text = !req.path.startsWith(AGENT_API);
    return parse(req, res, (err?: unknown) => next(err ?? bodyProblem(req.body, text) ?? (text ? bodyProblem(req.query, true) : undefined)));
  };
}

/** No API body nests deeper than this; validating a deeper one would exhaust the stack. */
export const MAX_BODY_DEPTH = 64;
// The agents' own API: their log chunks may carry any text a script printed (NUL is stored as U+FFFD).
const AGENT_API = '/api/agent/';
// U+0000, or a UTF-16 surrogate without its other half: PostgreSQL's text can hold neither.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Why a key or string cannot be stored, or null. */
const unstorable = (text: string) =>
  text.includes('\u0000') ? 'must not contain NUL characters (U+0000)' : LONE_SURROGATE.test(text) ? 'must not contain half of a UTF-16 surrogate pair' : null;
const invalidText = (field: string, problem: string) =>
  new DomainException('VALIDATION_FAILED', `${field} ${problem}: no field can store it; remove it`, undefined, [{ field, problems: [problem] }]);

/**
 * What makes a parsed body unusable before any route sees it: nesting deeper than
 * MAX_BODY_DEPTH (400), or (with `text`) a key or string that no column can store (422). Walked without
 * recursion, so the check itself cannot overflow.
 */
export function bodyProblem(body: unknown, text: boolean): DomainException | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (stack.length) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = text && unstorable(value);
      if (problem) return invalidText(path || 'the body', problem);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_BODY_DEPTH) return new DomainException('BODY_TOO_DEEP', `the body nests deeper than ${MAX_BODY_DEPTH} levels (at ${path}); no request needs that`);
    for (const [key, child] of Object.entries(value)) {
      const at = Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
      const problem = text && unstorable(key);
      if (problem) return invalidText(`a field name in ${path || 'the body'}`, problem);
      stack.push({ value: child, path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

/**
 * Headers every answer carries, the API's as much as the console's: no content sniffing, and,
 * when the public URL is https, HSTS (a browser that once reached Corral over https never falls
 * back to http). The console adds its own CSP and framing rules (console-static.middleware.ts).
 */
export function securityHeaders(publicUrl: string) {
  const headers: Record<string, string> = { 'X-Content-Type-Options': 'nosniff' };
  if (publicUrl.startsWith('https:')) headers['Strict-Transport-Security'] = 'max-age=31536000; includeSubDomains';
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    next();
  };
}
