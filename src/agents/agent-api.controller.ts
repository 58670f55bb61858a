import { Body, Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiOperation, ApiResponse } from '@nestjs/swagger';
import { ClientIp, Public } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import { AgentSigned, BodySchema, Responds } from '../openapi/openapi.decorators';
import { AgentApiService } from './agent-api.service';
import { AgentMessagesRequestSchema, EnrollRequestSchema, PollRequestSchema } from '../protocol/messages';
import { AgentProtocol } from './agents.responses';

/** What agents call over HTTP: enroll, long-poll, whoami, time. Authenticated by signatures, not sessions. */
@Controller('api/agent/v1')
@Public()
export class AgentApiController {
  constructor(private readonly api: AgentApiService) {}

  @Post('enroll')
  @AgentSigned()
  @ApiOperation({ summary: 'Enroll an agent', description: 'Signed with the key the agent presents (agent id "enroll"); the agent lands pending until an admin approves it.' })
  @BodySchema(EnrollRequestSchema)
  @Responds(201, AgentProtocol.enroll)
  enroll(@Req() req: Request, @Body() body: unknown, @ClientIp() ip: string) {
    return this.api.enroll(req, body, ip);
  }

  @Post('poll')
  @AgentSigned()
  @ApiOperation({ summary: 'Long-poll for work', description: 'Held until a message is waiting or the hold time passes; the fallback when the WebSocket is unavailable.' })
  @BodySchema(PollRequestSchema)
  @Responds(200, AgentProtocol.poll)
  @HttpCode(200)
  poll(@Req() req: Request, @Body() body: unknown) {
    return this.api.poll(req, body);
  }

  @Post('messages')
  @AgentSigned()
  @ApiOperation({ summary: 'Send job messages', description: 'Accepts, refusals, heartbeats, log chunks and finishes of a long-polling agent.' })
  @BodySchema(AgentMessagesRequestSchema)
  @Responds(200, AgentProtocol.poll)
  @HttpCode(200)
  messages(@Req() req: Request, @Body() body: unknown) {
    return this.api.messages(req, body);
  }

  @Get('whoami')
  @AgentSigned()
  @ApiOperation({ summary: 'Check the agent signature' })
  @Responds(200, AgentProtocol.whoami)
  whoami(@Req() req: Request) {
    return this.api.whoami(req);
  }

  @Get('time')
  @ApiOperation({ summary: "The control plane's clock", description: 'Unsigned: an agent measures its clock skew before it signs anything.' })
  @Responds(200, AgentProtocol.time)
  time() {
    return { serverTime: Date.now() };
  }

  /**
   * The agents' WebSocket, reached without its Upgrade header: a proxy in between dropped it.
   * Said plainly, since the agent shows this message when it falls back to long-polling.
   */
  @Get('ws')
  @ApiOperation({
    summary: 'The agents’ WebSocket, reached without an upgrade',
    description: 'Always 426: a proxy dropped the `Upgrade: websocket` header. The WebSocket itself carries signed protocol messages.',
  })
  @ApiResponse({ status: 426, description: 'Upgrade required', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })
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
