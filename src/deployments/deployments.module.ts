import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { EnvironmentsModule } from '../environments/environments.module';
import { TasksModule } from '../tasks/tasks.module';
import { VariablesModule } from '../variables/variables.module';
import { DeploymentRunner } from './deployment-runner';
import { DeploymentVariables } from './deployment-variables';
import { DeploymentsController } from './deployments.controller';
import { DeploymentsRepository } from './deployments.repository';
import { DeploymentsService } from './deployments.service';
import { LifecyclesController } from './lifecycles.controller';
import { LifecyclesRepository } from './lifecycles.repository';
import { LifecyclesService } from './lifecycles.service';
import { ProjectsController } from './projects.controller';
import { ProjectsRepository } from './projects.repository';
import { ProjectsService } from './projects.service';
import { ReleasesController } from './releases.controller';
import { ReleasesRepository } from './releases.repository';
import { ReleasesService } from './releases.service';

/** Lifecycles, projects, releases and deployments, on the engine's internal task API. */
@Module({
  imports: [EnvironmentsModule, AgentsModule, TasksModule, VariablesModule],
  controllers: [LifecyclesController, ProjectsController, ReleasesController, DeploymentsController],
  providers: [
    DeploymentVariables,
    LifecyclesRepository,
    ProjectsRepository,
    ReleasesRepository,
    DeploymentsRepository,
    LifecyclesService,
    ProjectsService,
    ReleasesService,
    DeploymentsService,
    DeploymentRunner,
  ],
})
export class DeploymentsModule {}
