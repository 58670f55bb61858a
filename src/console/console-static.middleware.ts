import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';

// Paths the console never answers: the API keeps its JSON 404 for unknown routes.
const SERVER_PATHS = /^\/(api|metrics|healthz|readyz|downloads)(\/|$)/;
// Vite puts content-hashed files here: a changed file gets a new name.
const HASHED_ASSETS = /^\/assets\//;

// The console loads nothing from elsewhere; React sets styles through the CSSOM, which CSP allows.
// nosniff and HSTS come with every answer (securityHeaders in common/http-middleware.ts).
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

/**
 * Serves the built web console from `dir` (index.html and assets/): files as they are, hashed
 * assets cached for good, and index.html for every other GET so the console's own routes work
 * on reload. API, metrics and health paths pass through untouched.
 */
export function consoleStatic(dir: string): RequestHandler {
  const index = join(dir, 'index.html');
  const files = express.static(dir, {
    index: false,
    fallthrough: true,
    redirect: false,
    setHeaders: (res, path) => {
      res.setHeader('Cache-Control', path.startsWith(join(dir, 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });

  return (req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || SERVER_PATHS.test(req.path)) return next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    files(req, res, () => {
      // A missing hashed asset is a stale page asking for an old build: a 404, not the page.
      if (HASHED_ASSETS.test(req.path)) return res.status(404).type('text/plain').send('not found\n');
      if (!existsSync(index)) return res.status(404).type('text/plain').send('The web console is not built: run "npm run build".\n');
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index, (err) => err && next(err));
    });
  };
}
