import { Controller, Get, Headers, Res } from '@nestjs/common';
import type { Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { Public } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from './metrics.service';

/** Prometheus text. With METRICS_TOKEN set, scrapers must send it as a bearer token. */
@Controller('metrics')
@Public()
export class MetricsController {
  constructor(
    @InjectConfig() private readonly config: CorralConfig,
    private readonly metrics: MetricsService,
  ) {}

  @Get()
  async scrape(@Headers('authorization') authorization: string | undefined, @Res() res: Response) {
    const expected = this.config.metricsToken;
    if (expected) {
      const given = Buffer.from(authorization?.replace(/^Bearer /i, '') ?? '');
      if (given.length !== Buffer.byteLength(expected) || !timingSafeEqual(given, Buffer.from(expected)))
        throw new DomainException('UNAUTHENTICATED', 'send METRICS_TOKEN as "Authorization: Bearer <token>" to read metrics', 401);
    }
    const { contentType, body } = await this.metrics.render();
    res.type(contentType).send(body);
  }
}
