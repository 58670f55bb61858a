import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { EnvironmentsModule } from '../environments/environments.module';
import { SecretsModule } from '../secrets/secrets.module';
import { VariableSetsController } from './variable-sets.controller';
import { VariablesRepository } from './variables.repository';
import { VariablesService } from './variables.service';

/** Project and library variables, their scopes, and sensitive values sealed at rest. */
@Module({
  imports: [EnvironmentsModule, AgentsModule, SecretsModule],
  controllers: [VariableSetsController],
  providers: [VariablesRepository, VariablesService],
  exports: [VariablesService],
})
export class VariablesModule {}
