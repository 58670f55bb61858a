import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequirePlatformOperator, RequireRole } from '../common/actor';
import { NodesService } from './nodes.service';

@Controller('api/v1/nodes')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.nodes.list(actor);
  }

  /** Affects every organisation's agents on the node: a platform operator's. */
  @Post(':id/drain')
  @HttpCode(200)
  @RequirePlatformOperator()
  drain(@CurrentActor() actor: Actor, @Param('id') id: string) {
    return this.nodes.drain(actor, id);
  }
}
