import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AgentWsAdapter } from './agents/agent-ws.adapter';
import cookieParser from 'cookie-parser';
import type { NextFunction, Request, Response } from 'express';
import { AppModule } from './app.module';
import { HttpExceptionFilter, toDomainException } from './common/http-exception.filter';
import { jsonBodyOnly, requestLogging, securityHeaders } from './common/http-middleware';
import { CorralLogger } from './common/logger';
import { metricsLog } from './metrics/metrics-log';
import { createValidationPipe } from './common/validation';
import { OpenApiService } from './openapi/openapi.service';
import type { CorralConfig } from './config/config';

/** Builds a listening-ready control-plane application; main.ts and the tests both start it this way. */
export async function createApp(config: CorralConfig, databaseUrl: string, logger: CorralLogger): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, databaseUrl, logger), {
    logger,
    bodyParser: false,
    abortOnError: false,
  });
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');
  if (config.metricsLog) metricsLog.open(config.metricsLog, config.metricsLogMaxBytes);
  app.use(requestLogging(logger));
  app.use(securityHeaders(config.publicUrl));
  app.use(cookieParser());
  app.use(jsonBodyOnly(config.bodyLimitBytes));
  // Errors raised by the express middleware above never reach Nest's filters.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const mapped = toDomainException(err);
    res.status(mapped.status).set(mapped.headers).json(mapped.toBody());
  });
  app.useWebSocketAdapter(new AgentWsAdapter(app));
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new HttpExceptionFilter(logger));
  app.get(OpenApiService).describe(app);
  const server = app.getHttpServer() as Server;
  // Slow or idle clients must not hold sockets forever; long-polls stay below these.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 60_000;
  return app;
}
