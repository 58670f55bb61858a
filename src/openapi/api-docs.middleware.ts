import { dirname, join } from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Where the reference pages are served (index at the bare path); the API keeps every other /api path. */
export const API_DOCS_PATH = '/api/docs';

// Swagger UI's own files, from the installed swagger-ui-dist (never a CDN). Resolved by path: the
// package's index.js would load the whole bundle into the server to say where it is.
const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
const SWAGGER_UI_FILES: Record<string, string> = {
  '/swagger-ui.css': 'swagger-ui.css',
  '/swagger-ui-bundle.js': 'swagger-ui-bundle.js',
  '/favicon-32x32.png': 'favicon-32x32.png',
};

// As strict as the console's: every script and style a file of our own, nothing inline, nothing
// from elsewhere. Swagger UI sets element styles through the DOM, which style-src allows.
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

const page = (documentUrl: string) => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Corral API reference</title>
    <link rel="stylesheet" href="${API_DOCS_PATH}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="${API_DOCS_PATH}/favicon-32x32.png" />
  </head>
  <body>
    <noscript>The API reference needs JavaScript; the document itself is at <a href="${documentUrl}">${documentUrl}</a>.</noscript>
    <div id="swagger-ui"></div>
    <script src="${API_DOCS_PATH}/swagger-ui-bundle.js"></script>
    <script src="${API_DOCS_PATH}/init.js"></script>
  </body>
</html>
`;

// A file, not an inline script, so the CSP needs no 'unsafe-inline'. No validator: the page would
// send the document to validator.swagger.io.
const init = (documentUrl: string) => `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: ${JSON.stringify(documentUrl)}, dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null });
});
`;

/**
 * The human reference for the API at API_DOCS_PATH: Swagger UI reading `documentUrl`, all of it
 * served from this node. Mount it at API_DOCS_PATH; paths it does not know fall through to the
 * API's JSON 404.
 */
export function apiDocs(documentUrl: string): RequestHandler {
  const html = page(documentUrl);
  const script = init(documentUrl);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const file = SWAGGER_UI_FILES[req.path];
    if (req.path !== '/' && req.path !== '/init.js' && !file) return next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    // Revalidated each time (with the ETag), so an upgraded node never serves a stale bundle.
    res.setHeader('Cache-Control', 'no-cache');
    if (req.path === '/') return res.type('html').send(html);
    if (req.path === '/init.js') return res.type('application/javascript').send(script);
    res.sendFile(join(SWAGGER_UI_DIR, file), { cacheControl: false }, (err) => err && next(err));
  };
}
