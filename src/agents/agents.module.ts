import { Module } from '@nestjs/common';
import { EnvironmentsModule } from '../environments/environments.module';
import { NodesModule } from '../nodes/nodes.module';
import { OrgsModule } from '../orgs/orgs.module';
import { AgentEnvironments } from './agent-environments';
import { AgentApiController } from './agent-api.controller';
import { AgentApiService } from './agent-api.service';
import { AgentAuthService } from './agent-auth.service';
import { AgentConnectionsService } from './agent-connections.service';
import { AgentDelivery } from './agent-delivery.service';
import { AgentNotices } from './agent-notices.service';
import { AgentPolicyReports } from './agent-policy.service';
import { AgentPresence } from './agent-presence.service';
import { AgentGateway } from './agent.gateway';
import { AgentsController } from './agents.controller';
import { AgentsRepository } from './agents.repository';
import { AgentsService } from './agents.service';
import { EnrollmentTokensController } from './enrollment-tokens.controller';
import { EnrollmentTokensRepository } from './enrollment-tokens.repository';
import { EnrollmentTokensService } from './enrollment-tokens.service';
import { ServerKeysService } from './server-keys.service';
import { SessionRegistry } from './session-registry.service';

@Module({
  imports: [NodesModule, EnvironmentsModule, OrgsModule],
  controllers: [AgentsController, EnrollmentTokensController, AgentApiController],
  providers: [
    AgentEnvironments,
    AgentsRepository,
    EnrollmentTokensRepository,
    ServerKeysService,
    AgentAuthService,
    SessionRegistry,
    AgentPresence,
    AgentPolicyReports,
    AgentDelivery,
    AgentNotices,
    AgentConnectionsService,
    AgentsService,
    EnrollmentTokensService,
    AgentApiService,
    AgentGateway,
  ],
  exports: [AgentConnectionsService, ServerKeysService, AgentsRepository, AgentsService],
})
export class AgentsModule {}
