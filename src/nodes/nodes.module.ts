import { Module } from '@nestjs/common';
import { NodeLifecycle } from './node-lifecycle.service';
import { NodesController } from './nodes.controller';
import { NodesRepository } from './nodes.repository';
import { NodesService } from './nodes.service';

/** This node in the cluster: its registration and heartbeat, and its lifecycle (drain, stop), which agent connections follow. */
@Module({
  controllers: [NodesController],
  providers: [NodesRepository, NodesService, NodeLifecycle],
  exports: [NodeLifecycle],
})
export class NodesModule {}
