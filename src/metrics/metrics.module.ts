import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { TasksModule } from '../tasks/tasks.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Module({
  imports: [AgentsModule, TasksModule],
  controllers: [MetricsController],
  providers: [MetricsService],
})
export class MetricsModule {}
