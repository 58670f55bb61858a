import { Module } from '@nestjs/common';
import { EnvironmentUsers } from './environment-users';
import { EnvironmentsController } from './environments.controller';
import { EnvironmentsRepository } from './environments.repository';
import { EnvironmentsService } from './environments.service';

/** Environments, on their own: modules that refer to them register as EnvironmentUsers. */
@Module({
  controllers: [EnvironmentsController],
  providers: [EnvironmentsRepository, EnvironmentUsers, EnvironmentsService],
  exports: [EnvironmentsService, EnvironmentUsers],
})
export class EnvironmentsModule {}
