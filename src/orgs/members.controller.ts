import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AddMemberDto } from './dto/add-member.dto';
import { ChangeRoleDto } from './dto/change-role.dto';
import { OrgsService } from './orgs.service';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { InvitationSchema, MemberSchema, NewInvitationSchema } from './orgs.responses';

@Controller('api/v1')
export class MembersController {
  constructor(private readonly orgs: OrgsService) {}

  @Get('members')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List members' })
  @Responds(200, z.array(MemberSchema))
  list(@CurrentActor() actor: Actor) {
    return this.orgs.listMembers(actor);
  }

  /** Invites the email (an account joins only when its owner accepts): the invitation token is returned once. */
  @Post('members')
  @RequireRole('admin')
  @ApiOperation({ summary: 'Invite a member', description: 'The account joins when its owner accepts the invitation; the token is returned once.' })
  @Responds(201, NewInvitationSchema)
  async add(@CurrentActor() actor: Actor, @Body() body: AddMemberDto) {
    const result = await this.orgs.addMember(actor, body.email, body.role);
    return { invitation: { ...result.invitation, token: result.token } };
  }

  @Patch('members/:id')
  @RequireRole('admin')
  @ApiOperation({ summary: "Change a member's role" })
  @Responds(200, MemberSchema)
  changeRole(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: ChangeRoleDto) {
    return this.orgs.changeRole(actor, id, body.role);
  }

  @Delete('members/:id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Remove a member' })
  @RespondsEmpty()
  remove(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.orgs.removeMember(actor, id);
  }

  @Get('invitations')
  @RequireRole('admin')
  @ApiOperation({ summary: 'List open invitations' })
  @Responds(200, z.array(InvitationSchema))
  listInvitations(@CurrentActor() actor: Actor) {
    return this.orgs.listInvitations(actor);
  }

  @Delete('invitations/:id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Revoke an invitation' })
  @RespondsEmpty()
  revokeInvitation(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.orgs.revokeInvitation(actor, id);
  }
}
