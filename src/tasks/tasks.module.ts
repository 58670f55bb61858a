import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { OrgsModule } from '../orgs/orgs.module';
import { SecretsModule } from '../secrets/secrets.module';
import { JobDispatchService } from './job-dispatch.service';
import { JobLogIntake } from './job-log-intake';
import { JobLogsRepository } from './job-logs.repository';
import { JobOutputs } from './job-outputs';
import { JobsRepository } from './jobs.repository';
import { TaskHooks } from './task-hooks';
import { TaskLogsService } from './task-logs.service';
import { TaskProgress } from './task-progress.service';
import { TaskQueue } from './task-queue.service';
import { TasksController } from './tasks.controller';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';

/** The engine. Other modules queue work through TaskQueue and hear of its end through TaskHooks. */
@Module({
  imports: [AgentsModule, OrgsModule, SecretsModule],
  controllers: [TasksController],
  providers: [TasksRepository, JobsRepository, JobLogsRepository, JobOutputs, TaskHooks, TaskProgress, TaskQueue, TasksService, TaskLogsService, JobLogIntake, JobDispatchService],
  exports: [JobsRepository, JobLogsRepository, JobOutputs, TaskQueue, TaskHooks, TaskLogsService],
})
export class TasksModule {}
