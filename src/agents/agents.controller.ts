import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AgentsService } from './agents.service';
import { ApproveAgentDto, DecideAgentDto, UpdateAgentDto } from './dto/approve-agent.dto';
import { ListAgentsQuery } from './dto/list-agents.dto';

@Controller('api/v1/agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Get()
  @RequireRole('viewer')
  list(@CurrentActor() actor: Actor, @Query() query: ListAgentsQuery) {
    return this.agents.list(actor, query.status);
  }

  @Get(':id')
  @RequireRole('viewer')
  get(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.agents.get(actor, id);
  }

  @Patch(':id')
  @RequireRole('admin')
  update(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: UpdateAgentDto) {
    return this.agents.update(actor, id, body);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequireRole('admin')
  approve(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: ApproveAgentDto) {
    return this.agents.approve(actor, id, body);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @RequireRole('admin')
  reject(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: DecideAgentDto) {
    return this.agents.reject(actor, id, body.reason);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @RequireRole('admin')
  revoke(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string, @Body() body: DecideAgentDto) {
    return this.agents.revoke(actor, id, body.reason);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('admin')
  delete(@CurrentActor() actor: Actor, @Param('id', ParseUUIDPipe) id: string) {
    return this.agents.delete(actor, id);
  }
}
