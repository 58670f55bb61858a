import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { DomainException } from './domain.exception';
import type { CorralLogger } from './logger';
import { httpRequestDuration } from '../metrics/metrics';
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
        if (!(res.getHeader('content-type') as string | undefined)?.startsWith('text/event-stream'))
          httpRequestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, ms / 1000);
        // Query strings are left out: they may carry tokens.
        requestContext.run({ requestId }, () =>
          logger.event(res.statusCode >= 500 ? 'error' : 'info', 'request', { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }),
        );
      });
      next();
    });
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
    return parse(req, res, next);
  };
}
