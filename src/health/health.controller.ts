import { Controller, Get, HttpCode } from '@nestjs/common';
import { Public } from '../common/actor';
import { HealthService } from './health.service';

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** The process is alive. */
  @Get('healthz')
  @Public()
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  /** The database answers and every migration is applied; 503 otherwise. */
  @Get('readyz')
  @Public()
  ready() {
    return this.health.readiness();
  }
}
