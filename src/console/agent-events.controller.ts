import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AgentEventsService } from './agent-events.service';
import { RespondsRaw } from '../openapi/openapi.decorators';

@Controller('api/v1/agent-events')
export class AgentEventsController {
  constructor(private readonly events: AgentEventsService) {}

  /** Server-sent events: `agent-changed` {agentId, status} for agents of the caller's organisation. */
  @Get()
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Follow changes to agents' })
  @RespondsRaw(200, { 'text/event-stream': z.string().describe('Server-sent events: `agent-changed` with {agentId, status}, for agents of your organisation') }, 'A stream of server-sent events')
  follow(@CurrentActor() actor: Actor, @Req() req: Request, @Res() res: Response) {
    return this.events.follow(actor, req, res);
  }
}
