import { Controller, Get, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { SESSION_COOKIE } from '../auth/auth.service';
import { ClientIp, Public } from '../common/actor';
import { ConsoleSessionService } from './console-session.service';
import { ConsoleSessionSchema } from '../auth/auth.responses';
import { Responds } from '../openapi/openapi.decorators';

@Controller('api/v1/console')
export class ConsoleSessionController {
  constructor(private readonly sessions: ConsoleSessionService) {}

  /** `{me}` like GET /api/v1/me, or `{me: null}` (200, not 401) when nobody is logged in. */
  @Get('session')
  @Public()
  @ApiOperation({ summary: 'Who is logged in, if anyone', description: 'Like GET /api/v1/me, but 200 with `{"me": null}` when nobody is.' })
  @Responds(200, ConsoleSessionSchema)
  session(@Req() req: Request, @ClientIp() ip: string) {
    return this.sessions.current((req.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE], ip);
  }
}
