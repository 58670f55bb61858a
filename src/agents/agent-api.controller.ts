import { Body, Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ClientIp, Public } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import { AgentApiService } from './agent-api.service';

/** What agents call over HTTP: enroll, long-poll, whoami, time. Authenticated by signatures, not sessions. */
@Controller('api/agent/v1')
@Public()
export class AgentApiController {
  constructor(private readonly api: AgentApiService) {}

  @Post('enroll')
  enroll(@Req() req: Request, @Body() body: unknown, @ClientIp() ip: string) {
    return this.api.enroll(req, body, ip);
  }

  @Post('poll')
  @HttpCode(200)
  poll(@Req() req: Request, @Body() body: unknown) {
    return this.api.poll(req, body);
  }

  @Post('messages')
  @HttpCode(200)
  messages(@Req() req: Request, @Body() body: unknown) {
    return this.api.messages(req, body);
  }

  @Get('whoami')
  whoami(@Req() req: Request) {
    return this.api.whoami(req);
  }

  @Get('time')
  time() {
    return { serverTime: Date.now() };
  }

  /**
   * The agents' WebSocket, reached without its Upgrade header: a proxy in between dropped it.
   * Said plainly, since the agent shows this message when it falls back to long-polling.
   */
  @Get('ws')
  notUpgraded() {
    throw new DomainException(
      'UPGRADE_REQUIRED',
      'this is the agents\' WebSocket, but the request arrived without "Upgrade: websocket": a proxy between the agent and the control plane drops it (nginx needs proxy_http_version 1.1 and proxy_set_header Upgrade/Connection, see docs/nginx/corral.conf); the agent long-polls meanwhile',
      426,
      undefined,
      { Upgrade: 'websocket' },
    );
  }
}
