import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { Public } from '../common/actor';
import { HealthService } from './health.service';
import { Responds } from '../openapi/openapi.decorators';
import { LiveSchema, ReadySchema } from './health.responses';

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** The process is alive. */
  @Get('healthz')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness', description: 'The process is alive.' })
  @Responds(200, LiveSchema)
  live() {
    return { status: 'ok' as const };
  }

  /** The database answers and every migration is applied; 503 otherwise. */
  @Get('readyz')
  @Public()
  @ApiOperation({ summary: 'Readiness', description: 'The database answers and every migration is applied; 503 `NOT_READY` otherwise, and while the node drains or stops.' })
  @Responds(200, ReadySchema)
  ready() {
    return this.health.readiness();
  }
}
