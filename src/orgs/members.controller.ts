import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AddMemberDto } from './dto/add-member.dto';
import { ChangeRoleDto } from './dto/change-role.dto';
import { OrgsService } from './orgs.service';

@Controller('api/v1')
export class MembersController {
  constructor(private readonly orgs: OrgsService) {}

  @Get('members')
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor) {
    return this.orgs.listMembers(actor);
  }

  /** Invites the email (an account joins only when its owner accepts): the invitation token is returned once. */
  @Post('members')
  @RequireRole('admin')
  async add(@CurrentActor() actor: Actor, @Body() body: AddMemberDto) {
    const result = await this.orgs.addMember(actor, body.email, body.role);
    return { invitation: { ...result.invitation, token: result.token } };
  }

  @Patch('members/:id')
  @RequireRole('admin')
  changeRole(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: ChangeRoleDto) {
    return this.orgs.changeRole(actor, id, body.role);
  }

  @Delete('members/:id')
  @HttpCode(204)
  @RequireRole('admin')
  remove(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.orgs.removeMember(actor, id);
  }

  @Get('invitations')
  @RequireRole('admin')
  listInvitations(@CurrentActor() actor: Actor) {
    return this.orgs.listInvitations(actor);
  }

  @Delete('invitations/:id')
  @HttpCode(204)
  @RequireRole('admin')
  revokeInvitation(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.orgs.revokeInvitation(actor, id);
  }
}
