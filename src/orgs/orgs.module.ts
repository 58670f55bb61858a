import { Module } from '@nestjs/common';
import { InvitationsRepository } from './invitations.repository';
import { MembersController } from './members.controller';
import { MembershipsRepository } from './memberships.repository';
import { OrganizationsRepository } from './organizations.repository';
import { OrgsService } from './orgs.service';
import { UsersRepository } from './users.repository';

@Module({
  controllers: [MembersController],
  providers: [OrganizationsRepository, UsersRepository, MembershipsRepository, InvitationsRepository, OrgsService],
  exports: [OrgsService, UsersRepository, MembershipsRepository],
})
export class OrgsModule {}
