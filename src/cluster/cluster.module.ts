import { Global, Module } from '@nestjs/common';
import { ClusterEventsService } from './cluster-events.service';

/** Cross-node events (LISTEN/NOTIFY): agents, tasks, nodes and the console all speak through them. */
@Global()
@Module({
  providers: [ClusterEventsService],
  exports: [ClusterEventsService],
})
export class ClusterModule {}
