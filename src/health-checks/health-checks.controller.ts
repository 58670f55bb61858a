import { Body, Controller, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateHealthCheckDto } from './dto/create-health-check.dto';
import { HealthChecksService } from './health-checks.service';

@Controller('api/v1/agents/health-checks')
export class HealthChecksController {
  constructor(private readonly healthChecks: HealthChecksService) {}

  @Post()
  @RequireRole('admin')
  create(@CurrentActor() actor: Actor, @Body() body: CreateHealthCheckDto) {
    return this.healthChecks.create(actor, body);
  }
}
