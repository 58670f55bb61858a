import { Controller, Get, Req } from '@nestjs/common';
import type { Request } from 'express';
import { SESSION_COOKIE } from '../auth/auth.service';
import { ClientIp, Public } from '../common/actor';
import { ConsoleSessionService } from './console-session.service';

@Controller('api/v1/console')
export class ConsoleSessionController {
  constructor(private readonly sessions: ConsoleSessionService) {}

  /** `{me}` like GET /api/v1/me, or `{me: null}` (200, not 401) when nobody is logged in. */
  @Get('session')
  @Public()
  session(@Req() req: Request, @ClientIp() ip: string) {
    return this.sessions.current((req.cookies as Record<string, string> | undefined)?.[SESSION_COOKIE], ip);
  }
}
