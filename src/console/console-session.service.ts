import { Injectable } from '@nestjs/common';
import { AuthService } from '../auth/auth.service';

@Injectable()
export class ConsoleSessionService {
  constructor(private readonly auth: AuthService) {}

  /** Who the session cookie belongs to, or null: the console asks before it knows whether anyone is logged in. */
  async current(cookie: string | undefined, ip: string) {
    const actor = cookie ? await this.auth.actorFromSession(cookie, ip) : null;
    if (!actor) return { me: null };
    // The organisation may be gone; that is "logged out" too.
    return { me: await this.auth.me(actor).catch(() => null) };
  }
}
