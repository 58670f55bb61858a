import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { type Actor, ClientIp, CurrentActor, Public, RequireRole } from '../common/actor';
import type { CorralConfig } from '../config/config';
import { InjectConfig } from '../config/config.module';
import { AuthService, type NewSession, SESSION_COOKIE } from './auth.service';
import { AcceptInvitationDto } from './dto/accept-invitation.dto';
import { LoginDto } from './dto/login.dto';
import { SignupDto } from './dto/signup.dto';
import { Responds, RespondsEmpty } from '../openapi/openapi.decorators';
import { MeSchema } from './auth.responses';

@Controller('api/v1')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    @InjectConfig() private readonly config: CorralConfig,
  ) {}

  @Post('signup')
  @Public()
  @ApiOperation({ summary: 'Sign up', description: 'A new organisation, with you as its owner; sets the session cookie.' })
  @Responds(201, MeSchema)
  async signup(@Body() body: SignupDto, @ClientIp() ip: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.startSession(req, res, await this.auth.signup(body, ip));
  }

  @Post('auth/login')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Log in', description: 'Sets the session cookie.' })
  @Responds(200, MeSchema)
  async login(@Body() body: LoginDto, @ClientIp() ip: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.startSession(req, res, await this.auth.login(body.email, body.password, ip));
  }

  @Post('invitations/accept')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Accept an invitation', description: 'Joins the organisation (creating the account if the email has none); sets the session cookie.' })
  @Responds(200, MeSchema)
  async acceptInvitation(@Body() body: AcceptInvitationDto, @ClientIp() ip: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.startSession(req, res, await this.auth.acceptInvitation(body.token, body.password, ip));
  }

  @Post('auth/logout')
  @RequireRole('viewer')
  @HttpCode(204)
  @ApiOperation({ summary: 'Log out', description: 'Ends the session and clears its cookie.' })
  @RespondsEmpty()
  async logout(@CurrentActor() actor: Actor, @Res({ passthrough: true }) res: Response) {
    await this.auth.logout(actor);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  @Get('me')
  @RequireRole('viewer')
  @ApiOperation({ summary: 'Who am I' })
  @Responds(200, MeSchema)
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
