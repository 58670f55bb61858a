import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { type Actor, CurrentActor, RequireRole } from '../common/actor';
import { AgentEventsService } from './agent-events.service';

@Controller('api/v1/agent-events')
export class AgentEventsController {
  constructor(private readonly events: AgentEventsService) {}

  /** Server-sent events: `agent-changed` {agentId, status} for agents of the caller's organisation. */
  @Get()
  @RequireRole('viewer')
  follow(@CurrentActor() actor: Actor, @Req() req: Request, @Res() res: Response) {
    return this.events.follow(actor, req, res);
  }
}
