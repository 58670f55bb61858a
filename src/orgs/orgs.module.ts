import { Module } from '@nestjs/common';
import { InvitationsRepository } from './invitations.repository';
import { LiveConnectionsService } from './live-connections.service';
import { MembersController } from './members.controller';
import { OrganizationLimitsController } from './organization-limits.controller';
import { OrganizationLimitsService } from './organization-limits.service';
import { MembershipsRepository } from './memberships.repository';
import { OrganizationsRepository } from './organizations.repository';
import { OrgsService } from './orgs.service';
import { UsersRepository } from './users.repository';

@Module({
  controllers: [MembersController, OrganizationLimitsController],
  providers: [OrganizationsRepository, UsersRepository, MembershipsRepository, InvitationsRepository, OrgsService, OrganizationLimitsService, LiveConnectionsService],
  exports: [OrgsService, OrganizationLimitsService, LiveConnectionsService, UsersRepository, MembershipsRepository],
})
export class OrgsModule {}
