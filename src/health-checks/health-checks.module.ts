import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { TasksModule } from '../tasks/tasks.module';
import { HealthChecksController } from './health-checks.controller';
import { HealthChecksService } from './health-checks.service';

/** Health checks of agents, on the engine's internal API (TaskQueue, TaskHooks). */
@Module({
  imports: [AgentsModule, TasksModule],
  controllers: [HealthChecksController],
  providers: [HealthChecksService],
})
export class HealthChecksModule {}
