import { Controller, Get, Headers, Res } from '@nestjs/common';
import type { Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { ClientIp, Public } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from './metrics.service';
import { MetricsTokenOrLoopback, RespondsRaw } from '../openapi/openapi.decorators';

/**
 * Prometheus text. With METRICS_TOKEN set, scrapers must send it as a bearer token; without it,
 * only callers on loopback get an answer, as exporters usually do: the figures name organisations.
 */
@Controller('metrics')
@Public()
export class MetricsController {
  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly metrics: MetricsService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Prometheus metrics', description: 'With METRICS_TOKEN set, send it as a bearer token; without it, only loopback callers get an answer.' })
  @MetricsTokenOrLoopback()
  @RespondsRaw(200, { 'text/plain': z.string().describe('The Prometheus text exposition format') }, 'The metrics')
  async scrape(@Headers('authorization') authorization: string | undefined, @ClientIp() ip: string, @Res() res: Response) {
    const expected = this.config.metricsToken;
    if (!expected && !isLoopback(ip))
      throw new DomainException('FORBIDDEN', 'without METRICS_TOKEN, metrics answer only on loopback; set METRICS_TOKEN on the control plane and send it as "Authorization: Bearer <token>"', 403);
    if (expected) {
      const given = Buffer.from(authorization?.replace(/^Bearer /i, '') ?? '');
      if (given.length !== Buffer.byteLength(expected) || !timingSafeEqual(given, Buffer.from(expected)))
        throw new DomainException('UNAUTHENTICATED', 'send METRICS_TOKEN as "Authorization: Bearer <token>" to read metrics', 401);
    }
    const { contentType, body } = await this.metrics.render();
    res.type(contentType).send(body);
  }
}

/** 127.0.0.0/8 or ::1 (the client as the trusted proxies say, so a proxy on loopback does not make everyone local). */
function isLoopback(ip: string): boolean {
  return ip === '::1' || /^127\.\d+\.\d+\.\d+$/.test(ip);
}
