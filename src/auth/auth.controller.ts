import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { type Actor, ClientIp, CurrentActor, Public, RequireRole } from '../common/actor';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { AuthService, type NewSession, SESSION_COOKIE } from './auth.service';
import { AcceptInvitationDto } from './dto/accept-invitation.dto';
import { LoginDto } from './dto/login.dto';
import { SignupDto } from './dto/signup.dto';

@Controller('api/v1')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    @InjectConfig() private readonly config: CorralConfig,
  ) {}

  @Post('signup')
  @Public()
  async signup(@Body() body: SignupDto, @ClientIp() ip: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.startSession(req, res, await this.auth.signup(body, ip));
  }

  @Post('auth/login')
  @Public()
  @HttpCode(200)
  async login(@Body() body: LoginDto, @ClientIp() ip: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.startSession(req, res, await this.auth.login(body.email, body.password, ip));
  }

  @Post('invitations/accept')
  @Public()
  @HttpCode(200)
  async acceptInvitation(@Body() body: AcceptInvitationDto, @ClientIp() ip: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.startSession(req, res, await this.auth.acceptInvitation(body.token, body.password, ip));
  }

  @Post('auth/logout')
  @RequireRole('viewer')
  @HttpCode(204)
  async logout(@CurrentActor() actor: Actor, @Res({ passthrough: true }) res: Response) {
    await this.auth.logout(actor);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  @Get('me')
  @RequireRole('viewer')
  me(@CurrentActor() actor: Actor) {
    return this.auth.me(actor);
  }

  private startSession(req: Request, res: Response, session: NewSession) {
    res.cookie(SESSION_COOKIE, session.token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: req.secure || this.config.publicUrl.startsWith('https:'),
      path: '/',
      expires: session.expiresAt,
    });
    return this.auth.me(session.actor);
  }
}
