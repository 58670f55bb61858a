import { createServer } from 'node:http';
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express } from 'express';
import { messageClassesOf } from './express-messages';

/** Nest's Express adapter, with a server whose requests and responses need no new prototype (see messageClassesOf). */
export class CorralExpressAdapter extends ExpressAdapter {
  override initHttpServer(options: NestApplicationOptions) {
    // The options the control plane does not use keep Nest's own server.
    if (options.httpsOptions || options.return503OnClosing || options.forceCloseConnections) return super.initHttpServer(options);
    const app = this.getInstance<Express>();
    this.httpServer = createServer(messageClassesOf(app), app);
  }
}
