import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequirePlatformOperator, RequireRole } from '../common/actor';
import { NodesService } from './nodes.service';

@Controller('api/v1')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Get('nodes')
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.nodes.list(actor);
  }

  /** Affects every organisation's agents on the node: a platform operator's. */
  @Post('nodes/:id/drain')
  @HttpCode(200)
  @RequirePlatformOperator()
  drain(@CurrentActor() actor: Actor, @Param('id') id: string) {
    return this.nodes.setDraining(actor, id, true);
  }

  @Post('nodes/:id/undrain')
  @HttpCode(200)
  @RequirePlatformOperator()
  undrain(@CurrentActor() actor: Actor, @Param('id') id: string) {
    return this.nodes.setDraining(actor, id, false);
  }

  /** Every node with every organisation's work on it. */
  @Get('platform/nodes')
  @RequirePlatformOperator()
  cluster() {
    return this.nodes.cluster();
  }
}
