import { createServer, IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { messageClassesOf } from './express-messages';

describe('messageClassesOf', () => {
  let server: Server;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it("makes requests and responses that already have the app's prototypes, so Express has nothing to change", async () => {
    const app = express();
    const seen: { request: boolean; response: boolean; isMessage: boolean }[] = [];
    server = createServer(messageClassesOf(app), (req, res) => {
      // As they arrive, before Express sees them.
      seen.push({ request: Object.getPrototypeOf(req) === app.request, response: Object.getPrototypeOf(res) === app.response, isMessage: req instanceof IncomingMessage && res instanceof ServerResponse });
      app(req, res);
    });
    app.post('/echo', express.json(), (req, res) => res.status(201).json({ got: req.body as unknown, path: req.path }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;

    for (const n of [1, 2]) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) });
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ got: { n }, path: '/echo' });
    }
    expect(seen).toEqual([
      { request: true, response: true, isMessage: true },
      { request: true, response: true, isMessage: true },
    ]);
  });
});
