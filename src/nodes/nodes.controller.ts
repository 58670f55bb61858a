import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { NodesService } from './nodes.service';

@Controller('api/v1/nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.nodes.list(actor);
  }

  @Post(':id/drain')
  @HttpCode(200)
  @RequireRole('owner')
  drain(@CurrentActor() actor: Actor, @Param('id') id: string) {
    return this.nodes.drain(actor, id);
  }
}
