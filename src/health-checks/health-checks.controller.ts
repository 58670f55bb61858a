import { Body, Controller, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { CreateHealthCheckDto } from './dto/create-health-check.dto';
import { HealthChecksService } from './health-checks.service';
import { Responds } from '../openapi/openapi.decorators';
import { HealthCheckTaskSchema } from './health-checks.responses';

@Controller('api/v1/agents/health-checks')
export class HealthChecksController {
  constructor(private readonly healthChecks: HealthChecksService) {}

  @Post()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Check agents’ health', description: 'A task with one health-check job per agent: the named ones, or every approved agent whose policy allows it.' })
  @Responds(201, HealthCheckTaskSchema)
  create(@CurrentActor() actor: Actor, @Body() body: CreateHealthCheckDto) {
    return this.healthChecks.create(actor, body);
  }
}
