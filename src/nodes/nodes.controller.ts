import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequirePlatformOperator, RequireRole } from '../common/actor';
import { NodesService } from './nodes.service';
import { Responds } from '../openapi/openapi.decorators';
import { ClusterNodeSchema, NodeSchema } from './nodes.responses';

@Controller('api/v1')
export class NodesController {
  constructor(private readonly nodes: NodesService) {}

  @Get('nodes')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List control-plane nodes' })
  @Responds(200, z.array(NodeSchema))
  list(@CurrentActor() actor: Actor) {
    return this.nodes.list(actor);
  }

  /** Affects every organisation's agents on the node: a platform operator's. */
  @Post('nodes/:id/drain')
  @HttpCode(200)
  @RequirePlatformOperator()
  @ApiOperation({ summary: 'Drain a node', description: 'It takes no new agents or work; its agents move to other nodes.' })
  @Responds(200, NodeSchema.optional())
  drain(@CurrentActor() actor: Actor, @Param('id') id: string) {
    return this.nodes.setDraining(actor, id, true);
  }

  @Post('nodes/:id/undrain')
  @HttpCode(200)
  @RequirePlatformOperator()
  @ApiOperation({ summary: 'Undrain a node' })
  @Responds(200, NodeSchema.optional())
  undrain(@CurrentActor() actor: Actor, @Param('id') id: string) {
    return this.nodes.setDraining(actor, id, false);
  }

  /** Every node with every organisation's work on it. */
  @Get('platform/nodes')
  @RequirePlatformOperator()
  @ApiOperation({ summary: "Every node with every organisation's work" })
  @Responds(200, z.array(ClusterNodeSchema))
  cluster() {
    return this.nodes.cluster();
  }
}
