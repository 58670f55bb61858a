import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AgentsService } from './agents.service';
import { ApproveAgentDto, DecideAgentDto, UpdateAgentDto } from './dto/approve-agent.dto';
import { ListAgentsQuery } from './dto/list-agents.dto';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { AgentListSchema, AgentSchema } from './agents.responses';

@Controller('api/v1/agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'List agents' })
  @Responds(200, AgentListSchema)
  list(@CurrentActor() actor: Actor, @Query() query: ListAgentsQuery) {
    return this.agents.list(actor, query.status);
  }

  @Get(':id')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Get an agent' })
  @Responds(200, AgentSchema)
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.agents.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  @ApiOperation({ summary: "Change an agent's environments and roles" })
  @Responds(200, AgentSchema)
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateAgentDto) {
    return this.agents.update(actor, id, body);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Approve a pending agent', description: 'Confirm the fingerprint or the verification code the agent printed.' })
  @Responds(200, AgentSchema)
  approve(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: ApproveAgentDto) {
    return this.agents.approve(actor, id, body);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Reject a pending agent' })
  @Responds(200, AgentSchema)
  reject(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: DecideAgentDto) {
    return this.agents.reject(actor, id, body.reason);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Revoke an agent' })
  @Responds(200, AgentSchema)
  revoke(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: DecideAgentDto) {
    return this.agents.revoke(actor, id, body.reason);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  @ApiOperation({ summary: 'Delete an agent' })
  @RespondsEmpty()
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.agents.delete(actor, id);
  }
}
