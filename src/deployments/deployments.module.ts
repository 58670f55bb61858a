import { Module } from '@nestjs/common';
import { EnvironmentsModule } from '../environments/environments.module';
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
  imports: [EnvironmentsModule],
  controllers: [LifecyclesController, ProjectsController, ReleasesController],
  providers: [LifecyclesRepository, ProjectsRepository, ReleasesRepository, LifecyclesService, ProjectsService, ReleasesService],
})
export class DeploymentsModule {}
