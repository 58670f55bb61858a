import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { NodesController } from './nodes.controller';
import { NodesRepository } from './nodes.repository';
import { NodesService } from './nodes.service';

@Module({
  imports: [AgentsModule],
  controllers: [NodesController],
  providers: [NodesRepository, NodesService],
})
export class NodesModule {}
