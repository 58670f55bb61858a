import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { JobDispatchService } from './job-dispatch.service';
import { JobsRepository } from './jobs.repository';
import { TaskLogsService } from './task-logs.service';
import { TaskProgress } from './task-progress.service';
import { TasksController } from './tasks.controller';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';

@Module({
  imports: [AgentsModule],
  controllers: [TasksController],
  providers: [TasksRepository, JobsRepository, TaskProgress, TasksService, TaskLogsService, JobDispatchService],
  exports: [JobsRepository],
})
export class TasksModule {}
