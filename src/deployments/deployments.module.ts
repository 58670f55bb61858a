import { Module } from '@nestjs/common';
import { EnvironmentsModule } from '../environments/environments.module';
import { LifecyclesController } from './lifecycles.controller';
import { LifecyclesRepository } from './lifecycles.repository';
import { LifecyclesService } from './lifecycles.service';

/** Lifecycles, projects, releases and deployments, on the engine's internal task API. */
@Module({
  imports: [EnvironmentsModule],
  controllers: [LifecyclesController],
  providers: [LifecyclesRepository, LifecyclesService],
})
export class DeploymentsModule {}
